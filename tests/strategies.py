"""Hypothesis strategies shared by the test suite: one place for every generator."""

from __future__ import annotations

import enum
import types
import typing

import attrs
from hypothesis import strategies as st

from ybstate.cluster.state import ClusterConfig
from ybstate.codec import TAG_OF
from ybstate.model import ArchiveScope, BackupScope, ClusterScope, DagScope, PromoteScope, RestoreScope, Scope

__all__ = ["event_strategy", "any_event", "for_type", "MACHINE_SCOPE"]

_INT = st.integers(min_value=0, max_value=(1 << 63) - 1)
_TEXT = st.text(max_size=12)


def for_type(tp: object) -> st.SearchStrategy:
    """A strategy for a field type of an event: ints, strings, enums, tuples, unions, attrs."""
    origin = typing.get_origin(tp)
    if tp is int:
        return _INT
    if tp is str:
        return _TEXT
    if tp is bool:
        return st.booleans()
    if tp is type(None):
        return st.none()
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(for_type(args[0]), max_size=3).map(tuple)
        return st.tuples(*(for_type(arg) for arg in args))
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(arg) for arg in typing.get_args(tp)])
    if attrs.has(tp):
        return attrs_strategy(tp)
    raise TypeError(f"no strategy for field type {tp!r}")


def attrs_strategy(cls: type) -> st.SearchStrategy:
    attrs.resolve_types(cls)
    fields = {f.name: for_type(f.type) for f in attrs.fields(cls) if f.init}
    return st.fixed_dictionaries(fields).map(lambda kwargs: cls(**kwargs))


def event_strategy(cls: type) -> st.SearchStrategy:
    return attrs_strategy(cls)


any_event = st.one_of([event_strategy(cls) for cls in TAG_OF])

# The world the Hypothesis state machine explores: three tenants with two tables each, a
# table that comes and goes, interleaved transactions, freezes and heartbeats, and up to
# four full backups with copy failures, cancels and dropped frozen versions.
MACHINE_SCOPE = Scope(
    cluster=ClusterScope(
        tenants=("t1", "t2", "t3"),
        tables=(("a", 2), ("b", 1)),
        keys=("k1", "k2", "k3"),
        values=("x", "y"),
        max_open_txns=3,
        max_cells_per_txn=3,
        max_log=1 << 40,
        tick=1000,
        ddl_table="c",
        config=ClusterConfig(data_servers=2, task_retries=1, piece_entries=4),
        business_first=("t2",),
    ),
    dag=DagScope(
        task_faults=4,
    ),
    backup=BackupScope(
        max_backups=4,
        backup_parallel=2,
        cancel_backups=True,
        drop_versions=True,
    ),
    archive=ArchiveScope(
        archive_tenants=("t1", "t2"),
        archive_batch=3,
        archiver_crashes=3,
        archive_stop=True,
        max_archive_runs=2,
        recycle_log=True,
    ),
    restore=RestoreScope(
        restore_sources=("t1",),
        max_restores=2,
        restore_workers=2,
        restore_capacity=3,
        worker_stalls=1,
        cancel_restores=True,
    ),
    promote=PromoteScope(
        promote=True,
        promotion_faults=2,
        decommission=True,
    ),
)
