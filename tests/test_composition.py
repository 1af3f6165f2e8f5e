"""The composition root: every part of the model is complete, and compose refuses parts
that do not fit, at once and naming what is wrong (not later, in trace validation or a
view comparison)."""

from __future__ import annotations

import enum
import inspect

import attrs
import pytest

from ybstate import access
from ybstate.archive import actions as archive_actions
from ybstate.archive import events as archive_events
from ybstate.backup import BACKUP
from ybstate.backup import actions as backup_actions
from ybstate.backup import events as backup_events
from ybstate.cluster import actions as cluster_actions
from ybstate.cluster import events as cluster_events
from ybstate.cluster.state import FINGERPRINT, ClusterState
from ybstate.codec import TAG_OF
from ybstate.dag import events as dag_events
from ybstate.errors import CompositionError, InvalidAction, TraceInvalid
from ybstate.kernel import Subsystem
from ybstate.model import EMPTY, MODEL, SUBSYSTEMS, Scope, compose
from ybstate.model.trace import request_for
from ybstate.pmap import HMap, PLog
from ybstate.promote import actions as promote_actions
from ybstate.promote import events as promote_events
from ybstate.restore import actions as restore_actions
from ybstate.restore import events as restore_events
from ybstate.restore.state import RestorePhase, RestoreTask, TableMapping
from ybstate.store import DuckDBStore

# Attrs classes of the actions modules that are not requests of the model: a field of a
# Write, and the scheduler's own cancel (a DAG is cancelled by cancelling its owner's task).
NOT_ACTIONS = {cluster_actions.Put, dag_events.CancelDag}


def _attrs_classes(*modules) -> set[type]:
    return {
        cls
        for module in modules
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if attrs.has(cls) and cls.__module__ == module.__name__
    }


ACTIONS = _attrs_classes(
    cluster_actions, backup_actions, archive_actions, restore_actions, promote_actions, dag_events
) - set(dag_events.DAG_EVENTS) | {access.DenyCommand}
EVENTS = (
    _attrs_classes(cluster_events, backup_events, archive_events, restore_events, promote_events)
    | set(dag_events.DAG_EVENTS)
    | {access.CommandDenied}
)


def test_every_action_has_one_decider():
    decided = [t for part in MODEL.parts for t in part.actions]
    assert len(decided) == len(set(decided))
    assert set(decided) == ACTIONS - NOT_ACTIONS


def test_every_event_has_one_handler_a_stored_tag_and_a_request_or_is_a_follower():
    handled = [t for part in MODEL.parts for t in part.events]
    assert len(handled) == len(set(handled))
    assert set(handled) == EVENTS
    assert set(MODEL.event_tags) == EVENTS == set(TAG_OF)
    assert len(set(MODEL.event_tags.values())) == len(EVENTS)
    assert set(MODEL.requests) | MODEL.followers == EVENTS
    assert not set(MODEL.requests) & MODEL.followers


@pytest.mark.parametrize(
    "follower", sorted(MODEL.followers, key=lambda t: t.__name__), ids=lambda t: t.__name__
)
def test_a_follower_is_refused_as_the_first_event_of_a_decision(follower):
    fields = {f.name: 0 for f in attrs.fields(follower)}
    with pytest.raises(TraceInvalid, match=f"{follower.__name__} does not open a decision"):
        request_for(MODEL, EMPTY, follower(**fields))


def test_every_state_table_has_a_view_of_the_same_name_with_the_same_columns():
    with DuckDBStore(":memory:") as store:
        for table in MODEL.tables:
            cursor = store.con.execute(f"SELECT * FROM {table.name} LIMIT 0")
            assert tuple(d[0] for d in cursor.description) == table.columns, table.name


def test_every_lifecycle_moves_on_events_of_the_model_and_reaches_every_phase():
    assert {lc.name for lc in MODEL.lifecycles} == {
        "transaction",
        "task",
        "backup task",
        "restore task",
        "promotion",
    }
    for lifecycle in MODEL.lifecycles:
        edges = lifecycle.edges()
        assert {kind for _, kind, _ in edges} <= {t.__name__ for t in EVENTS}
        first = next(iter(lifecycle.phases))
        reached, frontier = {first}, [first]
        while frontier:
            here = frontier.pop()
            for before, _, after in edges:
                if before is here and after not in reached:
                    reached.add(after)
                    frontier.append(after)
        assert reached == set(lifecycle.phases), lifecycle.name
        assert lifecycle.final(), lifecycle.name


def test_the_scope_has_one_section_per_part_that_offers_actions_of_its_own_scope():
    sections = {f.name: f.type for f in attrs.fields(Scope)}
    declared = {part.name: part.scope for part in SUBSYSTEMS if part.scope is not None}
    assert set(sections) == set(declared)
    for name, kind in declared.items():
        assert isinstance(getattr(Scope(), name), kind)


def test_every_hashed_part_of_the_state_is_in_the_fingerprint():
    for field in attrs.fields(ClusterState):
        if field.type in ("HMap", "PLog") or field.type in (HMap, PLog):
            assert field.metadata.get(FINGERPRINT) == "map", field.name


def _changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, enum.Enum):
        return next(member for member in type(value) if member is not value)
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    assert isinstance(value, tuple) and value, value
    return value[:-1]


MAPPING = TableMapping(source_table_id=3001, target_table_id=3005, name="orders", schema_version=2)
HAND_WRITTEN_REPRS = [
    MAPPING,
    RestoreTask(
        task_id=1, source_tenant_id=1001, target_name="dr", set_id=1, until_ts=9, until="m1",
        start_log_id=2, end_log_id=8, workers=2, capacity=4, phase=RestorePhase.RESTORING_INCREMENTAL,
        started_ts=5, ended_ts=7, error="e", phases=(RestorePhase.INIT, RestorePhase.PREPARING),
        target_tenant_id=1003, mapping=(MAPPING,), dag_id=1, tablets=2, loaded=2, entries=6, read=4,
        rewritten=(2, 3), applied=1, stalled=(0,), stopped=False, applied_txns=1, applied_ts=6,
        restored_log_id=3, apply_failures=1, dropped=(4,),
    ),
]  # fmt: skip


@pytest.mark.parametrize("value", HAND_WRITTEN_REPRS, ids=lambda v: type(v).__name__)
def test_a_hand_written_repr_shows_every_field(value):
    """The state's digest hashes these reprs: a field missing from one would make two
    different states one state to the explorer. Bookkeeping kept outside eq (a function of
    the other fields, such as ``RestoreTask.next_seqs``) is not state and stays out."""
    for field in (f for f in attrs.fields(type(value)) if f.eq):
        other = attrs.evolve(value, **{field.name: _changed(getattr(value, field.name))})
        assert repr(other) != repr(value), field.name


# -- compose refuses what does not fit -------------------------------------------------------------


def _refused(parts: tuple[Subsystem, ...]) -> str:
    with pytest.raises(CompositionError) as refused:
        compose(parts)
    return str(refused.value)


def _replaced(part: Subsystem) -> tuple[Subsystem, ...]:
    return tuple(part if p.name == part.name else p for p in SUBSYSTEMS)


def test_two_parts_claiming_one_action_are_refused():
    thief = Subsystem(name="thief", deciders={restore_actions.StartRestore: lambda s, a: []})
    assert "action StartRestore is claimed by restore and thief" in _refused((*SUBSYSTEMS, thief))


def test_two_parts_claiming_one_event_or_one_tag_are_refused():
    event = restore_events.RestoreFailed
    thief = Subsystem(
        name="thief",
        handlers={event: lambda s, e: s},
        event_tags={event: "backup.failed"},
        requests={event: lambda s, e: None},
    )
    message = _refused((*SUBSYSTEMS, thief))
    assert "event RestoreFailed is claimed by restore and thief" in message
    assert "tag 'backup.failed' is used by backup.BackupFailed and thief.RestoreFailed" in message


def test_an_event_without_a_tag_is_refused_at_composition():
    tags = {t: tag for t, tag in BACKUP.event_tags.items() if t is not backup_events.BackupCompleted}
    message = _refused(_replaced(attrs.evolve(BACKUP, event_tags=tags)))
    assert "backup's events ['BackupCompleted'] have no stored tag" in message


def test_an_action_without_a_tag_or_a_tag_used_twice_is_refused_at_composition():
    tags = {t: tag for t, tag in BACKUP.action_tags.items() if t is not backup_actions.CancelBackup}
    message = _refused(_replaced(attrs.evolve(BACKUP, action_tags=tags)))
    assert "backup's actions ['CancelBackup'] have no stored tag" in message
    twice = {**BACKUP.action_tags, backup_actions.CancelBackup: "backup.start_backup"}
    message = _refused(_replaced(attrs.evolve(BACKUP, action_tags=twice)))
    assert "action tag 'backup.start_backup' is used by" in message


def test_an_event_without_a_trace_request_is_refused_at_composition():
    requests = {t: r for t, r in BACKUP.requests.items() if t is not backup_events.BackupCompleted}
    message = _refused(_replaced(attrs.evolve(BACKUP, requests=requests)))
    assert (
        "backup's events ['BackupCompleted'] have no trace request and are not declared followers" in message
    )


def test_an_unknown_dependency_and_a_name_used_twice_are_refused():
    message = _refused((*SUBSYSTEMS, Subsystem(name="x", depends=("nowhere",)), Subsystem(name="x")))
    assert "x depends on unknown subsystems ['nowhere']" in message
    assert "two subsystems are named 'x'" in message


def test_a_model_without_promotion_composes_and_refuses_its_actions():
    without = compose(tuple(p for p in SUBSYSTEMS if p.name != "promote"))
    assert [p.name for p in without.parts] == ["cluster", "dag", "backup", "archive", "restore", "access"]
    state = without.start_state(Scope())
    with pytest.raises(InvalidAction, match="not a cluster action: StartPromotion"):
        without.decide(state, promote_actions.StartPromotion(standby="t1", primary="t2"))
    assert len(without.invariants) == len(MODEL.invariants) - len(MODEL.part("promote").invariants)
