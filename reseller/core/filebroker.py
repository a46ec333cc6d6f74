"""The broker of a machine without Redis: kombu's filesystem transport, with each message file
appearing in the queue folder whole.

kombu writes a message straight into the folder its consumers read (celery/kombu#1551): a worker
that picks the file up between its creation and the end of the write reads it empty, stops with an
unrecoverable JSONDecodeError, and the message is gone. Here the message is written under a name no
consumer takes (it does not end in ``.<queue>.msg``) and then renamed, which is atomic within one
file system, so a consumer sees either nothing or the whole message.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    # kombu's own filesystem Channel._put has this signature; its base class names it otherwise.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"  # kombu's ordering
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f"{uuid.uuid4()}.partial")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
