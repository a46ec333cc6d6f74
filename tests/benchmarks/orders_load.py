"""Load helpers for the orders benchmarks: instrumented Celery workers, sandbox accounts and key
offers, a batch of orders run to the end, and the sandbox's request log.

Run as a module, this is a `celery worker` that also measures where its time goes:

    python -m tests.benchmarks.orders_load STATS.json celery --app reseller worker ...

- every task: wall time from `task_prerun` to `task_postrun` (per task name);
- every supplier HTTP attempt: the `elapsed` the client's transport reports after it (the same
  figure its `on_request` hook gets: sending, the sandbox's handling, reading the answer), i.e.
  the time spent waiting on the sandbox, and when it was sent;
- every wait for the shared rate limit (`suppliers.ratelimit.acquire`: the Redis slot booking and
  the sleep until the slot), and the slots that had already begun when they were booked (the
  request then goes at once, later than its slot).

What is left of a task's time is ours: the claim and record transactions in PostgreSQL, the ORM,
the client's own request building and parsing. The totals are written to STATS.json every half
second and at shutdown; `WorkerStats.minus` gives one phase of a run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- inside the worker process ------------------------------------------------------------------


def _instrument(stats_path: Path) -> None:
    from celery import signals

    from suppliers.clients import transport

    lock = threading.Lock()
    totals: dict = {
        "tasks": {},  # name -> [count, seconds]
        "http_calls": 0,
        "http_seconds": 0.0,
        "throttle_calls": 0,
        "throttle_seconds": 0.0,
        "endpoints": {},  # path -> [count, seconds]
        "http_starts": [],  # epoch seconds at which each HTTP attempt was sent
        # [when, lateness] of each rate-limit slot booked; a slot that had already begun when it
        # was booked is used at once, late.
        "bookings": [],
        "sql_queries": 0,
        "sql_seconds": 0.0,
        "commits": 0,
        "commit_seconds": 0.0,
    }
    started: dict[str, float] = {}

    def dump() -> None:
        with lock:
            text = json.dumps(totals)
        tmp = stats_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, stats_path)

    @signals.task_prerun.connect(weak=False)
    def _prerun(task_id=None, **kwargs):
        started[task_id] = time.perf_counter()

    @signals.task_postrun.connect(weak=False)
    def _postrun(task_id=None, task=None, **kwargs):
        begun = started.pop(task_id, None)
        if begun is None:
            return
        seconds = time.perf_counter() - begun
        with lock:
            entry = totals["tasks"].setdefault(task.name.rsplit(".", 1)[-1], [0, 0.0])
            entry[0] += 1
            entry[1] += seconds

    original_report = transport.Transport._report

    def _report(self, method, path, status, elapsed):
        endpoint = path.rstrip("/").rsplit("/", 1)[-1] or path
        with lock:
            totals["http_calls"] += 1
            totals["http_seconds"] += elapsed
            totals["http_starts"].append(time.time() - elapsed)
            entry = totals["endpoints"].setdefault(endpoint, [0, 0.0])
            entry[0] += 1
            entry[1] += elapsed
        return original_report(self, method, path, status, elapsed)

    transport.Transport._report = _report

    from django.db.backends import utils as db_utils
    from django.db.backends.base import base as db_base

    def timed(original, count_key, seconds_key):
        def wrapper(*args, **kwargs):
            begun = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - begun
                with lock:
                    totals[count_key] += 1
                    totals[seconds_key] += elapsed

        return wrapper

    # Every statement (its round trip, lock waits included) and every COMMIT.
    db_utils.CursorWrapper._execute = timed(
        db_utils.CursorWrapper._execute, "sql_queries", "sql_seconds"
    )
    db_utils.CursorWrapper._executemany = timed(
        db_utils.CursorWrapper._executemany, "sql_queries", "sql_seconds"
    )
    db_base.BaseDatabaseWrapper._commit = timed(
        db_base.BaseDatabaseWrapper._commit, "commits", "commit_seconds"
    )

    @signals.worker_init.connect(weak=False)
    def _patch_ratelimit(**kwargs):
        from suppliers import ratelimit

        original_acquire = ratelimit.acquire

        def acquire(*args, **kw):
            begun = time.perf_counter()
            try:
                return original_acquire(*args, **kw)
            finally:
                with lock:
                    totals["throttle_calls"] += 1
                    totals["throttle_seconds"] += time.perf_counter() - begun

        # `throttle_for`'s closure looks `acquire` up in the module at each call.
        ratelimit.acquire = acquire

        original_reserve = ratelimit._reserve

        def _reserve(account_key, first_slot, last_slot, interval):
            slot = original_reserve(account_key, first_slot, last_slot, interval)
            now = time.time()
            with lock:  # lateness > 0: the slot had begun when it was booked
                totals["bookings"].append([now, now - slot * interval])
            return slot

        ratelimit._reserve = _reserve

    @signals.worker_ready.connect(weak=False)
    def _ready(**kwargs):
        dump()

        def flush() -> None:
            while True:
                time.sleep(0.5)
                dump()

        threading.Thread(target=flush, name="bench-stats", daemon=True).start()

    @signals.worker_shutdown.connect(weak=False)
    def _shutdown(**kwargs):
        dump()


# --- in the test process ------------------------------------------------------------------------


@dataclass
class WorkerStats:
    tasks: dict = field(default_factory=dict)
    http_calls: int = 0
    http_seconds: float = 0.0
    throttle_calls: int = 0
    throttle_seconds: float = 0.0
    endpoints: dict = field(default_factory=dict)
    sql_queries: int = 0
    sql_seconds: float = 0.0
    commits: int = 0
    commit_seconds: float = 0.0
    cpu_seconds: float = 0.0

    @classmethod
    def total(cls, parts: list[WorkerStats]) -> WorkerStats:
        result = cls()
        for part in parts:
            result = result.plus(part)
        return result

    def plus(self, other: WorkerStats, sign: int = 1) -> WorkerStats:
        def merge(a: dict, b: dict) -> dict:
            keys = set(a) | set(b)
            return {
                k: [
                    a.get(k, [0, 0.0])[0] + sign * b.get(k, [0, 0.0])[0],
                    a.get(k, [0, 0.0])[1] + sign * b.get(k, [0, 0.0])[1],
                ]
                for k in keys
            }

        return WorkerStats(
            tasks=merge(self.tasks, other.tasks),
            http_calls=self.http_calls + sign * other.http_calls,
            http_seconds=self.http_seconds + sign * other.http_seconds,
            throttle_calls=self.throttle_calls + sign * other.throttle_calls,
            throttle_seconds=self.throttle_seconds + sign * other.throttle_seconds,
            endpoints=merge(self.endpoints, other.endpoints),
            sql_queries=self.sql_queries + sign * other.sql_queries,
            sql_seconds=self.sql_seconds + sign * other.sql_seconds,
            commits=self.commits + sign * other.commits,
            commit_seconds=self.commit_seconds + sign * other.commit_seconds,
            cpu_seconds=self.cpu_seconds + sign * other.cpu_seconds,
        )

    def minus(self, other: WorkerStats) -> WorkerStats:
        return self.plus(other, sign=-1)

    @property
    def task_count(self) -> int:
        return sum(count for count, _ in self.tasks.values())

    @property
    def task_seconds(self) -> float:
        return sum(seconds for _, seconds in self.tasks.values())


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class PostgresCpu:
    """CPU seconds the PostgreSQL backends of one database use while the block runs.

    Sampled from /proc four times a second (the backends' process titles name their database),
    so backends that open and close meanwhile (connections recycled after CONN_MAX_AGE) count
    too, up to their last sample. Zero when PostgreSQL runs on another machine.
    """

    def __init__(self, database: str):
        self.marker = f" {database} "
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-pg-cpu", daemon=True)

    def __enter__(self) -> PostgresCpu:
        self._sample(initial=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(cpu - self.first.get(pid, 0.0) for pid, cpu in self.last.items())

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                    title = cmdline.read().decode(errors="replace")
                if not title.startswith("postgres:") or self.marker not in title:
                    continue
                cpu = process_cpu_seconds(int(name))
            except OSError:
                continue
            if initial:
                self.first[int(name)] = cpu
            self.last[int(name)] = cpu


class Workers:
    """`count` instrumented `celery worker` processes on this test run's queue and database."""

    def __init__(
        self, directory: Path, *, count: int = 2, pool: str = "threads", concurrency: int = 2
    ):
        self.directory, self.count, self.pool, self.concurrency = (
            directory,
            count,
            pool,
            concurrency,
        )
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> Workers:
        from django.conf import settings

        from reseller.core.queues import all_queue_names
        from tests.conftest import subprocess_env

        # This test process's database, cache prefix (the shared rate limit lives in the cache)
        # and Celery queue.
        env = subprocess_env()
        for n in range(self.count):
            stats = self.stats_path(n)
            stats.unlink(missing_ok=True)
            log = (self.directory / f"worker-{n}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "tests.benchmarks.orders_load",
                        str(stats),
                        "celery",
                        "--app",
                        "reseller",
                        "worker",
                        "--pool",
                        self.pool,
                        "--concurrency",
                        str(self.concurrency),
                        "--queues",
                        all_queue_names(),
                        "--hostname",
                        f"bench{n}-{os.getpid()}@%h",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "--loglevel",
                        "WARNING",
                    ],  # fmt: skip
                    env=env,
                    cwd=settings.BASE_DIR,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 90
        while not all(self.stats_path(n).exists() for n in range(self.count)):
            for n, process in enumerate(self.processes):
                if process.poll() is not None:
                    raise RuntimeError(f"worker {n} exited:\n{self.log(n)[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("workers not ready after 90 s")
            time.sleep(0.1)
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stats_path(self, n: int) -> Path:
        return self.directory / f"worker-{n}.json"

    def log(self, n: int) -> str:
        return (self.directory / f"worker-{n}.log").read_text(errors="replace")

    def slot_lateness(self, since: float) -> list[float]:
        """For each rate-limit slot booked since then: how long it had begun when it was booked
        (negative: booked ahead, as it should be)."""
        late = []
        for n in range(self.count):
            late += [
                lateness
                for at, lateness in json.loads(self.stats_path(n).read_text())["bookings"]
                if at >= since
            ]
        return late

    def http_starts(self, since: float) -> list[float]:
        """When the workers sent their supplier HTTP requests (epoch seconds, sorted), as the
        client saw it: released by the rate limit, before the sandbox logs its arrival."""
        time.sleep(1.1)
        starts = []
        for n in range(self.count):
            starts += json.loads(self.stats_path(n).read_text())["http_starts"]
        return sorted(ts for ts in starts if ts >= since)

    def stats(self) -> WorkerStats:
        """Totals so far over every worker (CPU time read now; the rest flushed twice a second)."""
        time.sleep(1.1)
        parts = []
        for n, process in enumerate(self.processes):
            data = json.loads(self.stats_path(n).read_text())
            data.pop("http_starts")
            data.pop("bookings")
            parts.append(WorkerStats(**data, cpu_seconds=process_cpu_seconds(process.pid)))
        return WorkerStats.total(parts)


# --- accounts, offers, orders ----------------------------------------------------------------------


def bench_account(sandbox, *, name: str, rate_limit: Decimal | int):
    """A postpaid MIXED sandbox account (no balance to run out) and its SupplierAccount."""
    from suppliers.models import SupplierAccount
    from suppliers.services import supplier_account_save

    remote = sandbox.create_account(balance="0", balance_profile="MIXED", postpaid=True)
    account = supplier_account_save(
        account=SupplierAccount(
            name=f"{name}-{remote['partnerId']}",
            base_url=sandbox.url,
            rate_limit_per_second=Decimal(rate_limit),
            call_deadline_seconds=10,
            balance_profile="MIXED",
        ),
        shop_token=remote["token"],
    )
    account.remote = remote
    return account


def key_offers(sandbox, account, *, count: int = 20):
    """`count` single-unit key offers of the sandbox (they complete at once), as catalog rows."""
    from django.utils import timezone

    from catalog.models import Offer

    found = sandbox.admin(
        "GET", "/sandbox/offers", params={"kind": "key", "in_stock": 1, "listed": 1, "limit": 400}
    )["offers"]
    now = timezone.now()
    chosen = [row for row in found if row["count"] == 1][:count]
    assert len(chosen) == count
    return Offer.objects.bulk_create(
        [
            Offer(
                account=account,
                offer_id=row["offerId"],
                product_id=row["productId"],
                product_name=row["productName"],
                offer_name=row["offerName"],
                category=row["category"],
                search_text=f"{row['productName']} {row['offerName']}".lower(),
                price=Decimal(str(row["price"])),
                currency=row["currency"],
                in_stock=True,
                returns_key=True,
                settlement_method=row["settlementMethod"],
                units=1,
                first_seen_at=now,
                synced_at=now,
            )
            for row in chosen
        ]
    )


@dataclass
class RunResult:
    orders: int
    started_at: float  # epoch seconds
    insert_seconds: float  # the bulk service's inserts
    send_seconds: float  # the commit, which sends one submit task per order to the broker
    seconds: float  # creation start to the last order's final_at
    statuses: dict


def run_batch(account, offers, *, orders: int, timeout: float = 170) -> RunResult:
    """Create `orders` orders (one unit each, cycling over `offers`) in one confirmed batch with
    the engine's bulk service and wait until every one is final."""
    from django.db import transaction
    from django.db.models import Max
    from django.utils import timezone

    from orders.batches.selectors import batch_status_counts
    from orders.models import Batch, Order
    from orders.services import OrderLine, batch_orders_create
    from orders.states import FINAL_STATUSES

    batch = Batch.objects.create(
        name=f"bench {orders}", status=Batch.Status.CONFIRMED, confirmed_at=timezone.now()
    )
    lines = [
        OrderLine(
            offer=offers[i % len(offers)],
            max_unit_price=offers[i % len(offers)].price,
            customer_reference=f"bench-{batch.pk}-{i}",
            row_number=i + 1,
        )
        for i in range(orders)
    ]
    started = timezone.now()
    begun = time.perf_counter()
    with transaction.atomic():  # split the inserts from the sending of the tasks on commit
        created = batch_orders_create(batch=batch, lines=lines)
        inserted = time.perf_counter()
    sent = time.perf_counter()
    assert created == orders
    pending = Order.objects.filter(batch=batch).exclude(status__in=list(FINAL_STATUSES))
    deadline = time.monotonic() + timeout
    while pending.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"not final after {timeout}s: {batch_status_counts(batch=batch)}")
        time.sleep(0.2)
    last = Order.objects.filter(batch=batch).aggregate(last=Max("final_at"))["last"]
    return RunResult(
        orders=orders,
        started_at=started.timestamp(),
        insert_seconds=inserted - begun,
        send_seconds=sent - inserted,
        seconds=(last - started).total_seconds(),
        statuses={k: v for k, v in batch_status_counts(batch=batch).items() if v},
    )


def sandbox_requests(
    sandbox, token: str, *, since: float, endpoint: str | None = None
) -> list[dict]:
    return sandbox.admin(
        "GET",
        "/sandbox/requests",
        params={"token": token, "since": f"{since:.6f}", "endpoint": endpoint},
        timeout=60,
    )["requests"]


def max_in_window(timestamps: list[float], window: float = 1.0) -> int:
    """The most timestamps falling in any half-open window [t, t + window)."""
    ts = sorted(timestamps)
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= window:
            j += 1
        best = max(best, i - j + 1)
    return best


if __name__ == "__main__":
    _instrument(Path(sys.argv[1]))
    from celery.__main__ import main as celery_main

    sys.argv = sys.argv[2:]
    sys.exit(celery_main())
