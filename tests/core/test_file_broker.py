"""The broker of a machine without Redis never hands a worker a message that is still being
written (kombu's own filesystem transport does, and the worker stops with a JSONDecodeError)."""

import threading
from queue import Empty

from kombu import Connection

from reseller.core import filebroker


def channel(folder):
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "store_processed": False,
    }
    return Connection(
        "filesystem://", transport="reseller.core.filebroker:Transport", transport_options=options
    ).default_channel


def test_a_consumer_racing_the_producer_gets_every_message_whole(tmp_path):
    producer, consumer = channel(tmp_path), channel(tmp_path)
    assert isinstance(producer, filebroker.Channel)
    sent = 1500
    payload = {"body": "x" * 65536}  # large enough that a write takes a while
    received, errors = [], []
    all_sent = threading.Event()

    def consume():
        while len(received) + len(errors) < sent:
            try:
                received.append(consumer._get("work"))
            except Empty:
                if all_sent.is_set() and consumer._size("work") == 0:
                    return
            except Exception as error:  # noqa: BLE001 (counted: kombu's transport raises here)
                errors.append(error)

    reader = threading.Thread(target=consume)
    reader.start()
    for n in range(sent):
        producer._put("work", {**payload, "n": n})
    all_sent.set()
    reader.join(timeout=60)
    assert errors == []
    assert sorted(message["n"] for message in received) == list(range(sent))
    assert list(tmp_path.iterdir()) == []  # no partial file left behind


def test_the_settings_use_it_for_the_file_broker(settings):
    from reseller.celery import app

    if not settings.CELERY_BROKER_URL.startswith("filesystem://"):
        return  # a Redis broker (CI's PostgreSQL run)
    assert isinstance(app.connection_for_write().default_channel, filebroker.Channel)
