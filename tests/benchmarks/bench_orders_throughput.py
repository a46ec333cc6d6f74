"""Orders end to end, the same 2,000-order batch on the embedded default (SQLite and the file
broker, what `make run` gives a new machine) and on PostgreSQL + Redis, side by side in one run;
then, on each, 200 orders under a rate limit of 20 requests per second.

`test_orders_on_both_backends` runs `test_orders_end_to_end_and_under_a_rate_limit` once per
backend in a pytest subprocess of its own (the database and the broker are chosen when Django
starts) and prints the figures of both in one table. PostgreSQL and Redis are the ones named by
BENCH_DATABASE_URL / BENCH_REDIS_URL, or else DATABASE_URL / REDIS_URL, or else this machine's
(127.0.0.1:5432, user postgres; 127.0.0.1:6379).

Setup: a postpaid sandbox account (no balance to run out), 20 single-unit key offers (the sandbox
completes key orders at once, so each order is one create-order call answered COMPLETED with its
key, stored encrypted), no customer email (no delivery task). The orders are created by the
engine's bulk service (`batch_orders_create`, in a confirmed batch: the submit tasks are sent as
it commits: ten orders to a task on the batches' queue). Two `celery worker` processes consume
this test process's queues, each with `--pool threads --concurrency 4`, the pool of the Procfile's
`worker-batches` (two of them, as `docker compose up --scale worker-batches=2` runs);
BENCH_ORDERS_POOL=threads:2 (or solo:1) runs another. The account's rate limit is
9999/s (the field's maximum) for the first run. Orders per second run from the start of the
creation to the `final_at` of the last order.

Where the time goes, from inside the workers (tests/benchmarks/orders_load.py instruments them):
a task's wall time is split into the supplier HTTP calls (the elapsed time the client's
transport measures around each request, the figure its `on_request` hook gets: the sandbox's
handling plus loopback and the reading of the answer), the waits for the shared rate limit, and
the rest, which is ours; of ours, the time inside SQL statements and COMMITs (round trips, lock
and fsync waits) is shown apart from the rest (Python: the ORM, the key's encryption, the
client's request building and parsing; and waiting for a CPU or the GIL). CPU seconds of the
workers, of the sandbox process and of this database's PostgreSQL backends over the run are read
from /proc. (The sandbox's request log has arrival times only, no handling time, so it serves the
rate check, not this split.)

The rate-limited run sets the account's `rate_limit_per_second` to 20 and looks at every request
the account made twice: when the workers sent it (recorded in the workers, as the rate limit let
it go) and when the sandbox logged its arrival (its request log): the most in any 1-second
window and in any calendar second, the mean rate, how close 21 consecutive requests came.

    make bench PYTEST_ARGS="-k orders_on_both_backends"
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from orders.models import OrderKey
from suppliers.models import SupplierAccount
from tests.benchmarks.conftest import report
from tests.benchmarks.orders_load import (
    PostgresCpu,
    Workers,
    bench_account,
    key_offers,
    max_in_window,
    process_cpu_seconds,
    run_batch,
    sandbox_requests,
)

ORDERS = 2000
LIMITED_ORDERS = 200
LIMIT = 20
WORKERS = 2
# Each worker's pool, as the Procfile's worker-batches; BENCH_ORDERS_POOL=threads:2 tries another.
POOL, _, _CONCURRENCY = os.environ.get("BENCH_ORDERS_POOL", "threads:4").partition(":")
CONCURRENCY = int(_CONCURRENCY or 1)


def _split(stats, orders: int) -> dict:
    task, http, wait = stats.task_seconds, stats.http_seconds, stats.throttle_seconds
    sql = stats.sql_seconds + stats.commit_seconds
    ours = task - http - wait

    def line(seconds: float) -> str:
        return f"{seconds / orders * 1000:6.1f}  {seconds / task:4.0%}"

    return {
        "tasks run": ", ".join(f"{name} {n}" for name, (n, _) in sorted(stats.tasks.items())),
        "task time per order (ms, share)": line(task),
        "  our code": line(ours),
        "    in SQL statements and COMMITs": line(sql)
        + f"  ({stats.sql_queries / orders:.1f} statements,"
        f" {stats.commits / orders:.1f} commits per order;"
        f" {stats.commit_seconds / max(stats.commits, 1) * 1000:.1f} ms per commit)",
        "    the rest (Python, GIL and CPU waits)": line(ours - sql),
        "  waiting on the sandbox (HTTP)": line(http) + f"  ({stats.http_calls} calls)",
        "  waiting for the rate limit": line(wait),
        "worker CPU per order (ms)": f"{stats.cpu_seconds / orders * 1000:.1f}",
    }


BACKEND_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")


def _backends() -> dict[str, dict[str, str]]:
    database = (
        os.environ.get("BENCH_DATABASE_URL")
        or (
            os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ["DATABASE_URL"]
        )
        or "postgres://postgres@127.0.0.1:5432/reseller_bench"
    )
    redis = (
        os.environ.get("BENCH_REDIS_URL")
        or os.environ.get("REDIS_URL")
        or ("redis://127.0.0.1:6379/0")
    )
    broker = redis.rsplit("/", 1)[0] + "/1"
    return {
        "embedded (SQLite + file broker)": {},
        "PostgreSQL + Redis": {
            "DATABASE_URL": database,
            "REDIS_URL": redis,
            "CELERY_BROKER_URL": broker,
        },
    }


def test_orders_on_both_backends(tmp_path):
    results = {}
    for name, variables in _backends().items():
        out = tmp_path / f"{len(results)}.json"
        env = {k: v for k, v in os.environ.items() if k not in BACKEND_VARIABLES}
        env.update(variables, BENCH_ORDERS_RESULT=str(out))
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                f"{__file__}::test_orders_end_to_end_and_under_a_rate_limit",
                "-o",
                "python_files=bench_*.py",
                "-p",
                "no:xdist",
                "-p",
                "no:cacheprovider",
                "-q",
                "-s",
            ],
            env=env,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=900,
        )
        print(done.stdout[done.stdout.find("BENCH") :].rsplit("\n", 3)[0])
        if done.returncode != 0 or not out.exists():
            tail = (done.stdout + done.stderr)[-2000:]
            results[name] = {"orders per second": f"did not run ({tail.strip().splitlines()[-1]})"}
            continue
        results[name] = json.loads(out.read_text())
    names = list(results)
    rows = sorted({key for figures in results.values() for key in figures}, key=_ROW_ORDER.index)
    width = max(len(row) for row in rows)
    lines = [f"BENCH orders side by side: {ORDERS:,} key orders, {WORKERS} workers each"]
    lines.append(f"  {'':<{width}}  " + "  ".join(f"{n:<32}" for n in names))
    for row in rows:
        cells = "  ".join(f"{str(results[n].get(row, '')):<32}" for n in names)
        lines.append(f"  {row:<{width}}  {cells}")
    print("\n" + "\n".join(lines))
    assert all("did not run" not in str(r["orders per second"]) for r in results.values()), results


_ROW_ORDER = [
    "orders per second",
    "our share of task time",
    "task time per order (ms)",
    "SQL statements per sent order",
    "commits per sent order",
    "orders per second at 20 requests/s",
]


@pytest.mark.django_db(transaction=True)
def test_orders_end_to_end_and_under_a_rate_limit(sandbox, tmp_path):
    if "BENCH_ORDERS_RESULT" not in os.environ:
        pytest.skip("run by test_orders_on_both_backends, once per backend")
    backend = f"{connection.vendor} + {settings.CELERY_BROKER_URL.split(':', 1)[0]} broker"
    account = bench_account(sandbox, name="bench-throughput", rate_limit=9999)
    offers = key_offers(sandbox, account)
    token = account.remote["token"]

    with Workers(tmp_path, count=WORKERS, pool=POOL, concurrency=CONCURRENCY) as workers:
        # --- 2,000 orders, no effective rate limit -------------------------------------------
        before = workers.stats()
        sandbox_cpu = process_cpu_seconds(sandbox.process.pid)
        with PostgresCpu(connection.settings_dict["NAME"]) as pg_cpu:
            run = run_batch(account, offers, orders=ORDERS)
        sandbox_cpu = process_cpu_seconds(sandbox.process.pid) - sandbox_cpu
        fast = workers.stats().minus(before)
        assert run.statuses == {"COMPLETED": ORDERS}, run.statuses
        assert OrderKey.objects.filter(order__batch__name=f"bench {ORDERS}").count() == ORDERS
        creates = sandbox_requests(sandbox, token, since=run.started_at, endpoint="create-order")
        assert len(creates) == ORDERS  # one create-order call per order, none repeated

        report(
            f"orders end to end: {ORDERS:,} key orders, {WORKERS} workers "
            f"(--pool {POOL} --concurrency {CONCURRENCY}), {backend}",
            {
                "orders per second": f"{ORDERS / run.seconds:.1f}",
                "creation to last COMPLETED (s)": f"{run.seconds:.1f}",
                "  bulk create: inserts / sending the tasks (s)": (
                    f"{run.insert_seconds:.2f} / {run.send_seconds:.2f}"
                ),
                **_split(fast, ORDERS),
                "sandbox CPU per order (ms)": f"{sandbox_cpu / ORDERS * 1000:.1f}",
                "PostgreSQL backends' CPU per order (ms)": f"{pg_cpu.seconds / ORDERS * 1000:.1f}",
                "worker busy (task time / thread time)": (
                    f"{fast.task_seconds / (WORKERS * CONCURRENCY * run.seconds):.0%}"
                ),
            },
        )

        # --- 200 orders at 20 requests per second -----------------------------------------------
        SupplierAccount.objects.filter(pk=account.pk).update(rate_limit_per_second=LIMIT)
        before = workers.stats()
        limited = run_batch(account, offers, orders=LIMITED_ORDERS)
        slow = workers.stats().minus(before)
        assert limited.statuses == {"COMPLETED": LIMITED_ORDERS}, limited.statuses
        sends = workers.http_starts(since=limited.started_at)
        lateness = workers.slot_lateness(since=limited.started_at)
    late = [seconds for seconds in lateness if seconds > 0]

    arrivals = [row["ts"] for row in sandbox_requests(sandbox, token, since=limited.started_at)]
    assert len(arrivals) == len(sends) == LIMITED_ORDERS

    def limit_figures(ts: list[float]) -> str:
        gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
        span = min(b - a for a, b in zip(ts, ts[LIMIT:], strict=False))
        return (
            f"{max_in_window(ts)} in any 1 s window, "
            f"{max(Counter(int(t) for t in ts).values())} in a calendar second, "
            f"mean {(len(ts) - 1) / (ts[-1] - ts[0]):.2f}/s, "
            f"{LIMIT + 1} within {span:.3f} s at the closest, "
            f"gaps min {min(gaps) * 1000:.1f} / median {statistics.median(gaps) * 1000:.1f} ms"
        )

    Path(os.environ["BENCH_ORDERS_RESULT"]).write_text(
        json.dumps(
            {
                "orders per second": f"{ORDERS / run.seconds:.1f}",
                "our share of task time": (
                    f"{(fast.task_seconds - fast.http_seconds - fast.throttle_seconds) / fast.task_seconds:.0%}"
                ),
                "task time per order (ms)": f"{fast.task_seconds / ORDERS * 1000:.1f}",
                "SQL statements per sent order": f"{fast.sql_queries / ORDERS:.1f}",
                "commits per sent order": f"{fast.commits / ORDERS:.1f}",
                "orders per second at 20 requests/s": f"{LIMITED_ORDERS / limited.seconds:.1f}",
            }
        )
    )
    report(
        f"orders under a rate limit of {LIMIT}/s: {LIMITED_ORDERS} orders, same workers",
        {
            "requests the account made (sandbox log)": len(arrivals),
            "sent, as the workers saw it": limit_figures(sends),
            "arrived, as the sandbox logged it": limit_figures(arrivals),
            "(the limiter's slots)": f"{1000 / LIMIT:.0f} ms apart: {LIMIT} per second, "
            f"{LIMIT + 1} within 1.000 s at the closest",
            "slots already begun when booked (sent at once)": (
                f"{len(late)} of {len(lateness)}, up to {max(late, default=0) * 1000:.0f} ms late"
            ),
            "orders per second": f"{LIMITED_ORDERS / limited.seconds:.1f}",
            **_split(slow, LIMITED_ORDERS),
        },
    )
