"""How long the protocol's steps take: the cost table of the duration model (docs/durations.md).

The clock is logical, in microseconds. A log entry moves it by one; a tick by what it says.
Each costed step of the protocol moves it by the step's cost, drawn from this table, so a
backup, a restore, a catch-up and a promotion last a time that follows the table, and the
archive lags the log by what its wake-ups and seals take:

=====================  ==========================================================================
``tablet_task_us``     each tablet copy of a backup and fetch of a restore, besides its rows
``row_copy_us``        a backup's tablet copy, per row copied
``row_fetch_us``       a restore's tablet fetch, per row fetched
``piece_seal_us``      an archiver sealing a piece (write, checksum, manifest)
``entry_rewrite_us``   a restore worker rewriting one archived entry (shared by the workers)
``entry_apply_us``     the applier applying one entry, and a promotion's catch-up per entry
``promotion_step_us``  each promotion step: verify, fence, catch-up, switch, route, enable writes
``archiver_wake_us``   the archiver's wake-up interval: it reads new log only when it wakes, at
                       the multiples of this on the clock
=====================  ==========================================================================

The model takes one step at a time, so work that runs in parallel is charged as a share:
a DAG task's cost is divided by the number of its DAG's tasks that can run at once (the
DAG's parallel degree, at most its task count), a rewrite's by the restore's workers.
Stages of a pipeline that overlap in a real system (rewriting and applying) add up here.

:data:`UNTIMED` (every cost 0) is the protocol without durations, what an exhaustive check
explores by default and what a history stored before the cost table existed ran under.

Pure data and arithmetic.
"""

from __future__ import annotations

import attrs

__all__ = ["Costs", "UNTIMED", "COST_LIMITS", "shared", "spoken"]


@attrs.frozen(kw_only=True)
class Costs:
    """The ``[cluster.costs]`` table; every value is in microseconds. The defaults are
    those of a modest cluster (docs/durations.md says where each comes from and how to
    measure your own)."""

    tablet_task_us: int = 20_000
    row_copy_us: int = 2
    row_fetch_us: int = 5
    piece_seal_us: int = 50_000
    entry_rewrite_us: int = 40
    entry_apply_us: int = 25
    promotion_step_us: int = 200_000
    archiver_wake_us: int = 1_000_000

    def copy_us(self, rows: int) -> int:
        """A backup's tablet copy of ``rows`` rows, before its share among parallel copies."""
        return self.tablet_task_us + rows * self.row_copy_us

    def fetch_us(self, rows: int) -> int:
        """A restore's tablet fetch of ``rows`` rows, before its share among parallel fetches."""
        return self.tablet_task_us + rows * self.row_fetch_us

    def rewrite_us(self, workers: int) -> int:
        """One entry rewritten: its share among the restore's ``workers``."""
        return shared(self.entry_rewrite_us, workers)

    @property
    def timed(self) -> bool:
        """Whether any step takes time."""
        return self != UNTIMED

    def wake_at(self, ts: int) -> int:
        """The first wake-up of an archiver at or after ``ts`` (``ts`` itself when untimed)."""
        interval = self.archiver_wake_us
        if interval == 0:
            return ts
        return -(-ts // interval) * interval


UNTIMED = Costs(
    tablet_task_us=0,
    row_copy_us=0,
    row_fetch_us=0,
    piece_seal_us=0,
    entry_rewrite_us=0,
    entry_apply_us=0,
    promotion_step_us=0,
    archiver_wake_us=0,
)
"""Every step instantaneous: the clock moves only with log entries and ticks."""

COST_LIMITS: dict[str, tuple[int, int]] = {
    "tablet_task_us": (0, 10**10),
    "row_copy_us": (0, 10**6),
    "row_fetch_us": (0, 10**6),
    "piece_seal_us": (0, 10**9),
    "entry_rewrite_us": (0, 10**9),
    "entry_apply_us": (0, 10**9),
    "promotion_step_us": (0, 10**10),
    "archiver_wake_us": (0, 86_400 * 10**6),
}
"""Each cost's range, in microseconds (a second per row, a day between wake-ups, at most)."""


def shared(cost: int, parallel: int) -> int:
    """``cost`` divided among ``parallel`` workers, rounded up (a step that costs anything
    never costs nothing)."""
    return -(-cost // max(parallel, 1))


def spoken(micros: int) -> str:
    """A duration on the logical clock for people: µs below a millisecond, else seconds
    with three decimals."""
    return f"{micros} µs" if micros < 1000 else f"{micros / 1e6:,.3f} s"
