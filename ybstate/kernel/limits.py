"""The range of every size a user can give: one table, read by the model's deciders (so a
command is refused) and by the scenario parser (so a file is refused before anything runs).

Every bound is far above what a model run needs and far below what would overflow a
DuckDB BIGINT or exhaust memory or time: a value outside is a mistake, refused with the
name of what it sizes, the range and the value found. docs/cli.md prints this table.
"""

from __future__ import annotations

import attrs

__all__ = ["Range", "LIMITS", "MAX_TIME", "NAME_LENGTH", "RENAMED", "name_problem", "within"]

MAX_TIME = 2**62
"""The clock never passes this (microseconds): int64 holds it with room for any run."""

NAME_LENGTH = 128
"""Tenant, table, mark and transaction names have 1 to this many characters."""

RENAMED = "@"
"""The separator of a replaced primary's name, ``<name>@<tenant id>``: no name of a user's has it."""


@attrs.frozen
class Range:
    low: int
    high: int
    what: str

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not an int in the range, or None."""
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an int ({self.low}..{self.high}), got {value!r}"
        if not self.low <= value <= self.high:
            return f"must be {self.low}..{self.high}, got {value}"
        return None


LIMITS: dict[str, Range] = {
    # [cluster]
    "data_servers": Range(1, 1024, "data servers of the cluster"),
    "dag_workers": Range(1, 256, "DAG tasks that run at once (a backup's default parallel degree)"),
    "restore_workers": Range(1, 256, "rewrite workers of a restore (the default)"),
    "piece_entries": Range(1, 10_000_000, "log entries an archive piece holds at most"),
    "start_time": Range(0, 2**60, "the clock's first value, in microseconds"),
    "task_retries": Range(0, 1000, "retries of a failed DAG task"),
    # sizes of what runs
    "tablets": Range(1, 4096, "tablets of a table"),
    "micros": Range(1, 10**12, "microseconds one tick moves the clock (11.6 days at most)"),
    "parallel": Range(0, 256, "a backup's parallel degree (0: dag_workers)"),
    "workers": Range(0, 256, "a restore's rewrite workers (0: restore_workers)"),
    "capacity": Range(0, 1_000_000, "entries a restore holds in flight (0: twice the workers)"),
    "worker": Range(0, 255, "index of a restore worker"),
    "frozen_version": Range(0, 2**31, "a frozen version (0: the newest)"),
    "backup_set": Range(0, 2**31, "a backup set id (0: the newest fitting)"),
    "log_id": Range(0, 2**62, "a log id"),
    "timestamp": Range(0, MAX_TIME, "a timestamp, in microseconds"),
    # scenario workloads and faults
    "transactions": Range(1, 1_000_000, "transactions of a workload step"),
    "keys": Range(1, 1_000_000, "row keys a workload draws from"),
    "ops": Range(1, 10_000, "row changes a workload transaction makes at most"),
    "concurrency": Range(1, 1024, "workload transactions open at once"),
    "times": Range(1, 1_000_000, "how many times a fault strikes"),
    "steps": Range(0, 1_000_000, "scenario steps a fault lasts"),
    "read": Range(0, 10_000_000, "entries a crashing archiver reads first"),
}


def within(name: str, value: object) -> str | None:
    """Why ``value`` is outside the range of ``name`` (a key of :data:`LIMITS`), or None."""
    return LIMITS[name].problem(value)


def name_problem(kind: str, name: object) -> str | None:
    """Why ``name`` is not a valid name of a ``kind`` (tenant, table, mark...), or None."""
    if not isinstance(name, str) or not name:
        return f"a {kind} needs a non-empty name, got {name!r}"
    if len(name) > NAME_LENGTH:
        return f"a {kind} name has at most {NAME_LENGTH} characters, got {len(name)}"
    if not name.isprintable():
        return f"a {kind} name has no control characters, got {name!r}"
    if kind == "tenant" and RENAMED in name:
        return f"a tenant name may not contain {RENAMED!r} (it names replaced primaries), got {name!r}"
    return None
