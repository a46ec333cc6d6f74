"""How fast a 50,000-row batch CSV is read, parsed and validated, and how much memory that takes.

Target (issue 5): under 10 s and under 300 MB. The file is what a Russian-language Excel export
looks like (semicolons, decimal commas, Cyrillic references, UTF-8 without a BOM so the whole-file
encoding check runs), against 5,000 catalog offers; about one row in seven has a problem (bad
numbers, unknown, delisted or out-of-stock offers, missing player ids, repeated or used references).

Two runs: the first is timed with nothing else attached; the second runs under tracemalloc for the
peak of Python allocations (tracemalloc slows the code, so its time is not reported). Process RSS
is read from /proc: the peak (VmHWM) is reset before the timed run where the kernel allows it, so
"peak RSS growth" is the run's own high-water mark above the RSS it started from.
"""

import gc
import random
import resource
import time
import tracemalloc
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.batches.parsing import parse_rows
from orders.batches.reading import read_rows
from orders.batches.validation import validate_rows
from tests.benchmarks.conftest import report

ROWS = 50_000
OFFERS = 5_000
CURRENCIES = ("RUB", "USD", "EUR", "KZT", "TRY", "UAH")  # UAH has no seeded rate


def make_catalog():
    from catalog.models import Offer
    from suppliers.models import SupplierAccount

    account = SupplierAccount.objects.create(
        name="bench-batch",
        base_url="http://127.0.0.1:9",
        shop_token="t" * 32,
        balance_profile="FIAT",
    )
    now = timezone.now()
    rng = random.Random(5)
    offers = []
    for n in range(1, OFFERS + 1):
        top_up = n % 3 == 0
        offers.append(
            Offer(
                account=account,
                offer_id=100_000 + n,
                product_name=f"Product {n // 10}",
                offer_name=f"{n % 10 * 100} units",
                price=Decimal(rng.randint(50, 500_000)) / 100,
                currency=CURRENCIES[n % len(CURRENCIES)],
                in_stock=n % 97 != 0,
                requires_user_id=top_up,
                requires_server_id=top_up and n % 2 == 0,
                settlement_method=("FIAT", "MIXED", "")[n % 3],
                delisted_at=now if n % 211 == 0 else None,
                first_seen_at=now,
                synced_at=now,
            )
        )
    Offer.objects.bulk_create(offers, batch_size=1000)
    return account, {offer.offer_id: offer for offer in offers}


def make_csv(offers) -> bytes:
    """50,000 rows; of every 33, four are broken on purpose (a bad number, an unknown offer, a
    missing player id, a repeated reference)."""
    rng = random.Random(7)
    ids = list(offers)
    lines = [
        "offer_id;quantity;player_id;server_id;email;telegram_username;customer_reference;max_unit_price"
    ]
    for n in range(ROWS):
        offer = offers[rng.choice(ids)]
        player = str(rng.randint(10**8, 10**11)) if offer.requires_user_id else ""
        server = rng.choice(["os_euro", "os_asia", "os_usa"]) if offer.requires_server_id else ""
        email = f"customer{n}@example.com" if not offer.requires_user_id else ""
        reference = f"Заказ-{n:06d}"
        limit = f"{offer.price * Decimal('1.1'):.2f}".replace(".", ",")
        quantity = str(rng.randint(1, 5))
        offer_id = str(offer.offer_id)
        broken = n % 33
        if broken == 1:
            quantity = "two"
        elif broken == 2:
            offer_id = str(900_000 + n)
        elif broken == 3 and player:
            player = ""
        elif broken == 4:
            reference = f"Заказ-{n - 4:06d}"
        lines.append(";".join([offer_id, quantity, player, server, email, "", reference, limit]))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def parse_and_validate(data: bytes, account, ordered):
    reader = read_rows(data, "orders.csv")
    started = time.perf_counter()
    rows = list(parse_rows(reader))
    parsed = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        preview = validate_rows(
            rows, account=account, ordered_references=ordered, warnings=reader.warnings
        )
    done = time.perf_counter()
    return preview, parsed - started, done - parsed, len(queries), reader


@pytest.mark.django_db
def test_parse_and_validate_a_50000_row_csv():
    account, offers = make_catalog()
    data = make_csv(offers)
    already_ordered = {f"Заказ-{n:06d}" for n in range(0, ROWS, 500)}  # 100 old references

    def ordered(references):
        return references & already_ordered

    gc.collect()
    rss_before = proc_status_kb("VmRSS")
    peak_reset = reset_peak_rss()
    started = time.perf_counter()
    preview, parse_seconds, validate_seconds, queries, reader = parse_and_validate(
        data, account, ordered
    )
    seconds = time.perf_counter() - started
    hwm_after = proc_status_kb("VmHWM")
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    assert preview.rows_total == ROWS == reader.rows_read
    assert preview.rows_ok + preview.rows_with_problems == ROWS
    assert preview.rows[-1].row_number == ROWS + 1
    assert preview.rows_with_problems > 1500  # the broken rows were really checked

    counts = f"{preview.rows_ok:,} ok, {preview.rows_with_problems:,} with problems"
    del preview
    gc.collect()
    tracemalloc.start()
    parse_and_validate(data, account, ordered)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    figures = {
        "rows": f"{ROWS:,} ({len(data) / 1e6:.1f} MB CSV, UTF-8, ';'), {OFFERS:,} offers",
        "seconds (read+parse+validate)": f"{seconds:.2f}",
        "  read+parse": f"{parse_seconds:.2f}",
        "  validate": f"{validate_seconds:.2f} ({queries} queries)",
        "rows per second": f"{ROWS / seconds:,.0f}",
        "peak Python allocations (tracemalloc)": f"{traced_peak / 2**20:.1f} MB",
    }
    if peak_reset and rss_before is not None and hwm_after is not None:
        figures["peak RSS growth during the run"] = f"{(hwm_after - rss_before) / 1024:.1f} MB"
    figures["process max RSS (whole test process)"] = f"{max_rss_mb:.1f} MB"
    figures["rows"] += f"; {counts}"
    report("batch file parse+validate 50,000 rows", figures)


class StatementCounter:
    """Counts SQL statements cheaply (an execute wrapper; no copy of the SQL is kept)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@pytest.mark.django_db
def test_upload_and_confirm_a_50000_row_csv():
    """The whole life of the file before any order is sent: the upload stored and read in this
    process (read, parse, validate, store the preview: the upload request and the reading task
    one after the other) and the confirmation task (every good row's orders created in
    one transaction). The supplier is unreachable here, so the balance shows as unknown."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from orders.batches.preview import (
        batch_preview_confirm,
        batch_preview_create,
        batch_preview_create_orders,
    )
    from orders.models import Batch, BatchPreviewRow, Order

    account, offers = make_catalog()
    data = make_csv(offers)

    started = time.perf_counter()
    batch = batch_preview_create(
        account=account, uploaded_file=SimpleUploadedFile("orders.csv", data), filename="orders.csv"
    )
    upload_seconds = time.perf_counter() - started
    summary = batch.preview_summary
    assert summary["rows_total"] == ROWS and summary["rows_ok"] > 40_000

    batch_preview_confirm(batch=batch, by=None)
    counter = StatementCounter()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        batch = batch_preview_create_orders(batch_id=batch.pk)
    confirm_seconds = time.perf_counter() - started

    orders = Order.objects.filter(batch=batch).count()
    assert batch.status == Batch.Status.CONFIRMED, batch.preview_summary.get("confirm_error")
    assert orders == summary["units_ok"]
    assert BatchPreviewRow.objects.filter(batch=batch, has_problems=False).count() == 0
    report(
        f"batch upload and confirmation 50,000 rows ({connection.vendor})",
        {
            "upload stored and read in process (read+validate+store)": f"{upload_seconds:.2f} s",
            "rows ok / with problems": f"{summary['rows_ok']:,} / {summary['rows_with_problems']:,}",
            "confirmation task (orders created)": f"{confirm_seconds:.2f} s for {orders:,} orders",
            "orders per second": f"{orders / confirm_seconds:,.0f}",
            "SQL statements per order": f"{counter.count / orders:.2f} ({counter.count:,} in all)",
        },
    )


@pytest.mark.django_db(transaction=True)
def test_upload_to_preview_ready_through_the_worker_50000_rows(client, make_staff):
    """The path an operator takes: the upload request (stores the file, answers at once), then a
    real worker on the batches queue reads, validates and stores the preview; timed from the POST
    to the batch being in PREVIEW (the page, polling every second, shows it within a second more).
    A small file is read first so the worker's start-up is not counted."""
    from django.urls import reverse

    from orders.models import Batch
    from reseller.core.queues import BATCHES, queue_name
    from tests.conftest import celery_worker, wait_until

    account, offers = make_catalog()
    data = make_csv(offers)
    client.force_login(make_staff("operator"))

    def post(name: str, content: bytes):
        from django.core.files.uploadedfile import SimpleUploadedFile

        started = time.perf_counter()
        response = client.post(
            reverse("orders:batch_upload"),
            {"account": account.pk, "file": SimpleUploadedFile(name, content)},
        )
        answered = time.perf_counter() - started
        assert response.status_code == 302, response.content[:500]
        return Batch.objects.latest("pk"), started, answered

    def read(batch) -> bool:
        return Batch.objects.filter(pk=batch.pk, status=Batch.Status.PREVIEW).exists()

    with celery_worker(queue_name(BATCHES)):
        warm, _, _ = post("warm.csv", b"offer_id;quantity\n100001;1\n")
        wait_until(lambda: read(warm), timeout=60, interval=0.05, message="the warm-up file read")
        batch, started, answered = post("orders.csv", data)
        wait_until(lambda: read(batch), timeout=120, interval=0.05, message="the preview")
        ready = time.perf_counter() - started
    batch.refresh_from_db()
    summary = batch.preview_summary
    assert summary["rows_total"] == ROWS and summary["rows_ok"] > 40_000
    report(
        f"batch upload → preview ready through the worker, 50,000 rows ({connection.vendor})",
        {
            "upload request answered (file stored)": f"{answered:.2f} s",
            "upload → preview ready (worker read+validate+store)": f"{ready:.2f} s",
            "rows ok / with problems": f"{summary['rows_ok']:,} / {summary['rows_with_problems']:,}",
        },
    )


def test_a_heavy_workbook_is_refused_quickly_in_little_memory():
    """Workbooks of under 1 MB (5 MB) that unpack to ~190 MB (~44 MB) of sheet XML: rows of
    16,384 cells, and a sheet declaring the whole grid with a million blank styled rows. Timed
    and traced in process, as the worker reads them."""
    from orders.batches.reading import BatchFileRefused, read_rows
    from tests.orders.batches.heavy_xlsx import tall_sheet_xlsx, wide_rows_xlsx

    figures = {}
    for label, data in (
        ("wide junk rows", wide_rows_xlsx()),
        ("whole grid declared, 1,000,000 blank rows", tall_sheet_xlsx()),
    ):
        import io
        import zipfile

        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            sheet_xml = archive.getinfo("xl/worksheets/sheet1.xml").file_size
        gc.collect()
        rss_before = proc_status_kb("VmRSS")
        peak_reset = reset_peak_rss()
        started = time.perf_counter()
        with pytest.raises(BatchFileRefused):
            list(read_rows(data, "heavy.xlsx"))
        seconds = time.perf_counter() - started
        hwm_after = proc_status_kb("VmHWM")
        tracemalloc.start()
        with pytest.raises(BatchFileRefused) as refused:
            list(read_rows(data, "heavy.xlsx"))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = ""
        if peak_reset and rss_before is not None and hwm_after is not None:
            rss = f", peak RSS growth {(hwm_after - rss_before) / 1024:.1f} MB"
        figures[label] = (
            f"{len(data) / 2**20:.1f} MB file, {sheet_xml / 2**20:.0f} MB sheet XML: refused in "
            f"{seconds:.2f} s, peak Python allocations {peak / 2**20:.1f} MB{rss}"
        )
        figures[f"  {label}: message"] = refused.value.message[:90] + "…"
    report("heavy workbooks refused", figures)
