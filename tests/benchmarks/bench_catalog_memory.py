"""Peak memory of a full catalog sync of 200,000 offers (target: under 300 MB; it streams pages).

The sync runs in a fresh Python process (`python -c`, `django.setup()`, then `catalog_sync_run`), the
way a worker runs it, against a sandbox holding 200,000 offers and this test's database (the
environment of `tests.conftest.subprocess_env`). Figures:

- peak RSS of that process: its `ru_maxrss` from `os.wait4` (this one child only) and the
  `VmHWM` it reads from /proc at the end (the two agree; both include the interpreter, Django and
  the imports, measured on their own as "RSS after django.setup()");
- the sync's own time and rows, from inside the child and from its job row.

    DATABASE_URL=postgres://... make bench PYTEST_ARGS="-k catalog_memory"
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from django.conf import settings
from django.db import connection

from catalog.models import Offer, SyncJob
from suppliers.models import SupplierAccount
from suppliers.services import supplier_account_save
from tests.benchmarks.conftest import report
from tests.conftest import SANDBOX_ADMIN_KEY, subprocess_env

OFFERS = 200_000

CHILD = r"""
import json, os, time

def status():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}  # KiB

import django
django.setup()
from catalog.models import SyncJob
from catalog.sync import catalog_sync_run

after_setup = status()
start = time.perf_counter()
catalog_sync_run(int(os.environ["BENCH_SYNC_JOB"]))
seconds = time.perf_counter() - start
print("BENCH_CHILD " + json.dumps({"seconds": seconds, "after_setup": after_setup, "end": status()}))
"""


@pytest.fixture(scope="module")
def huge_sandbox(tmp_path_factory):
    from sandbox.testing import running_sandbox

    start = time.perf_counter()
    with running_sandbox(
        tmp_path_factory.mktemp("bench-sandbox-200k"),
        offers=OFFERS,
        seed=1,
        admin_key=SANDBOX_ADMIN_KEY,
        timeout=300,
    ) as running:
        running.startup_seconds = time.perf_counter() - start
        yield running


def _run_child(job_id: int, tmp_path) -> tuple[dict, int, str]:
    """Run the sync in a fresh process; return what it printed, its max RSS (KiB), its stderr."""
    out, err = tmp_path / "child.out", tmp_path / "child.err"
    env = {**subprocess_env(), "BENCH_SYNC_JOB": str(job_id)}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            env=env,
            cwd=settings.BASE_DIR,
            stdout=stdout,
            stderr=stderr,
        )
        # wait4: the resource usage of this one child, whatever other children did before.
        _, wait_status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(wait_status)
    stderr_text = err.read_text(errors="replace")
    assert child.returncode == 0, stderr_text[-3000:]
    line = next(line for line in out.read_text().splitlines() if line.startswith("BENCH_CHILD "))
    return json.loads(line.removeprefix("BENCH_CHILD ")), usage.ru_maxrss, stderr_text


@pytest.mark.django_db(transaction=True)
def test_sync_of_200000_offers_peak_memory(huge_sandbox, tmp_path):
    remote = huge_sandbox.create_account(balance="100", balance_profile="MIXED")
    account = supplier_account_save(
        account=SupplierAccount(
            name="bench-sync-memory", base_url=huge_sandbox.url, rate_limit_per_second=1000
        ),
        shop_token=remote["token"],
    )
    job = SyncJob.objects.create(account=account)

    start = time.perf_counter()
    child, max_rss_kib, _ = _run_child(job.pk, tmp_path)
    wall = time.perf_counter() - start

    job.refresh_from_db()
    assert job.status == "succeeded", job.message
    stored = Offer.objects.filter(account=account).count()
    assert job.rows_fetched == job.rows_new == stored >= OFFERS * 0.95

    mib = 1024
    report(
        f"catalog sync memory, {stored:,} offers ({connection.vendor})",
        {
            "sandbox startup (s)": f"{huge_sandbox.startup_seconds:.1f}",
            "sync time in the child (s)": f"{child['seconds']:.1f}",
            "child process wall time (s)": f"{wall:.1f}  (startup and django.setup included)",
            "rows fetched / new / pages": f"{job.rows_fetched:,} / {job.rows_new:,} / {job.pages_done}",
            "rows per second": f"{job.rows_fetched / child['seconds']:,.0f}",
            "peak RSS, ru_maxrss (MB)": f"{max_rss_kib / mib:.0f}  (target < 300)",
            "peak RSS, VmHWM at the end (MB)": f"{child['end']['VmHWM'] / mib:.0f}",
            "RSS after django.setup() (MB)": f"{child['after_setup']['VmRSS'] / mib:.0f}",
            "peak growth during the sync (MB)": (
                f"{(child['end']['VmHWM'] - child['after_setup']['VmRSS']) / mib:.0f}"
            ),
            "RSS at the end (MB)": f"{child['end']['VmRSS'] / mib:.0f}",
        },
    )
