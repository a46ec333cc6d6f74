"""Reconciliation at 10,000 and 100,000 ledger rows against as many orders, and the XLSX of the
100,000 run. Pure Python over plain records: no database, no sandbox.

Targets (issue 6): 100k reconciled under 20 s and 500 MB, growth 10k -> 100k under 13 (no worse
than n log n), the XLSX under 30 s and 500 MB. The traffic (`tests/finance_engine/realistic.py`:
charges 1-120 s after submission, top-ups final up to an hour later, ~2 % refunds, a few double
charges, gaps, missing charges and refunds) has the same density at both sizes: 3 days for 10k,
a month for 100k.

Time is measured without tracemalloc (it slows allocation-heavy code several times), then the
same work is repeated under tracemalloc for its peak. Wall and CPU time are both shown; the growth
is taken from CPU time, which a busy shared machine disturbs far less (the wall-clock ratio is
shown beside it). "RSS growth" is the peak resident size
sampled during a timed run minus the size before it (freed memory of earlier runs is reused, so
it can read low); "process max RSS" is the high-water mark of the whole test process so far, the
generated inputs and earlier results included, read before anything is traced (tracemalloc's
own bookkeeping takes memory too). The whole benchmark takes two to four minutes, most of it the
traced XLSX build.

    make bench PYTEST_ARGS="-k reconciliation"
"""

from __future__ import annotations

import gc
import os
import resource
import threading
import time
import tracemalloc
from collections.abc import Callable

from finance.exports import write_reconciliation_xlsx
from finance.reconciliation import (
    LEDGER_BUCKETS,
    ORDER_BUCKETS,
    REFUND_BUCKETS,
    Bucket,
    Settings,
    reconcile,
)
from tests.benchmarks.conftest import report
from tests.finance_engine.realistic import generate

MB = 1024 * 1024


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _PeakRss:
    """Samples the resident size every 10 ms while the block runs."""

    def __enter__(self):
        self.before = _rss_bytes()
        self.peak = self.before or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_bytes() or 0)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes() or 0)

    @property
    def growth_mb(self) -> float:
        return 0.0 if self.before is None else (self.peak - self.before) / MB


def _timed(
    work: Callable[[], object], repeat: int
) -> tuple[object, list[tuple[float, float]], _PeakRss]:
    """Run `repeat` times: the last result, (wall, CPU) seconds of each run, and the run whose
    RSS grew most."""
    times, result, rss = [], None, None
    for _ in range(repeat):
        result = None
        gc.collect()
        with _PeakRss() as sampled:
            wall, cpu = time.perf_counter(), time.process_time()
            result = work()
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        rss = sampled if rss is None or sampled.growth_mb > rss.growth_mb else rss
    return result, times, rss


def _traced_peak_mb(work: Callable[[], object]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()


def _assert_all_processed(result, traffic) -> None:
    ledger_rows = sum(len(result.items[bucket]) for bucket in LEDGER_BUCKETS)
    orders = sum(len(result.items[bucket]) for bucket in ORDER_BUCKETS)
    refunds = sum(len(result.items[bucket]) for bucket in REFUND_BUCKETS)
    assert ledger_rows == result.ledger_count == len(traffic.ledger)
    assert orders == result.order_count == len(traffic.orders)
    assert refunds == sum(order.refund_expected for order in traffic.orders)
    assert result.totals.ties
    assert len(result.chain_breaks) == len(traffic.removed_rows)


#: Orders and the days they span: the same traffic (about 3,300 orders a day) at both sizes, so
#: the growth measures the algorithm, not a busier month.
SIZES = {10_000: 3, 100_000: 30}
ROUNDS = 3  # interleaved, so a slow spell of a shared machine hits both sizes alike


def test_reconciliation_10k_and_100k_and_the_xlsx(tmp_path):
    traffic = {size: generate(size, seed=1, days=days) for size, days in SIZES.items()}
    settings = {size: Settings(opening_balance=t.opening) for size, t in traffic.items()}

    def work(size):
        return lambda: reconcile(traffic[size].ledger, traffic[size].orders, settings[size])

    # 1. Time (no tracing): reconciliation at both sizes, interleaved, then the XLSX.
    times: dict[int, list[tuple[float, float]]] = {size: [] for size in SIZES}
    growth: dict[int, float] = {}
    results = {}
    for _ in range(ROUNDS):
        for size in SIZES:
            result, taken, sampled = _timed(work(size), repeat=3 if size == 10_000 else 1)
            _assert_all_processed(result, traffic[size])
            times[size] += taken
            growth[size] = max(growth.get(size, 0.0), sampled.growth_mb)
            results[size] = result
            del result
    big = results[100_000]
    path = tmp_path / "reconciliation-100k.xlsx"

    def build():
        write_reconciliation_xlsx(big, str(path), meta={"Account": "bench", "Run by": "bench"})

    _, xlsx_time, xlsx_rss = _timed(build, repeat=1)
    assert path.stat().st_size > 1_000_000
    untraced_max_rss = _max_rss_mb()

    # 2. Peak memory under tracemalloc (slow: tracing every allocation).
    traced = {size: _traced_peak_mb(work(size)) for size in SIZES}
    xlsx_traced = _traced_peak_mb(build)

    figures: dict[str, object] = {}
    best = {size: min(wall for wall, _cpu in taken) for size, taken in times.items()}
    best_cpu = {size: min(cpu for _wall, cpu in taken) for size, taken in times.items()}
    for size, days in SIZES.items():
        label = f"{size // 1000}k"
        counts = results[size].counts
        figures[f"{label}: ledger rows / orders / days"] = (
            f"{len(traffic[size].ledger):,} / {len(traffic[size].orders):,} / {days}"
        )
        figures[f"{label}: seconds wall, best (all runs)"] = (
            f"{best[size]:.3f} ({', '.join(f'{wall:.2f}' for wall, _cpu in times[size])})"
        )
        figures[f"{label}: seconds CPU, best"] = f"{best_cpu[size]:.3f}"
        figures[f"{label}: tracemalloc peak MB"] = f"{traced[size]:.0f}"
        figures[f"{label}: RSS growth MB"] = f"{growth[size]:.0f}"
        figures[f"{label}: matched / variance / unexpected / not charged / breaks"] = (
            f"{counts[Bucket.MATCHED]:,} / {counts[Bucket.MATCHED_WITH_VARIANCE]:,} / "
            f"{counts[Bucket.UNEXPECTED_CHARGE]} / {counts[Bucket.NOT_CHARGED]} / "
            f"{counts[Bucket.CHAIN_BREAK]}"
        )
    figures["growth 10k -> 100k, CPU (wall) (target < 13)"] = (
        f"{best_cpu[100_000] / best_cpu[10_000]:.1f} ({best[100_000] / best[10_000]:.1f})"
    )
    figures["xlsx 100k: seconds wall / CPU (target < 30)"] = (
        f"{xlsx_time[0][0]:.1f} / {xlsx_time[0][1]:.1f}"
    )
    figures["xlsx 100k: tracemalloc peak MB (target < 500)"] = f"{xlsx_traced:.1f}"
    figures["xlsx 100k: RSS growth MB"] = f"{xlsx_rss.growth_mb:.0f}"
    figures["xlsx 100k: file MB"] = f"{path.stat().st_size / MB:.1f}"
    figures["process max RSS MB, inputs included (before tracing)"] = f"{untraced_max_rss:.0f}"
    report("reconciliation (pure Python; 100k target < 20 s and < 500 MB)", figures)
