"""The composition root: the YaoBase cluster with every protocol that runs on it.

:data:`SUBSYSTEMS` lists the parts in order: the cluster substrate, the DAG scheduler,
full backups, log archiving, restores, promotion and access control. :data:`MODEL` is
their composition (:func:`~ybstate.model.compose.compose`), and this package exports its
three functions and everything the drivers, the store, the command line and the tests
need: :func:`decide`, :func:`apply`, :func:`enabled`, :func:`replay`, :data:`EMPTY`,
:data:`INVARIANTS`, :data:`EVENT_TAGS`, :class:`Scope`, :func:`model_spec`,
:func:`start_events`, :func:`validate_trace`, the fingerprints.

Only the drivers, the store, the command line and the tests import this package; the
subsystems never do.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from ybstate.access import ACCESS
from ybstate.archive import ARCHIVE
from ybstate.backup import BACKUP
from ybstate.cluster import CLUSTER
from ybstate.cluster.fingerprint import fingerprint, fingerprint_hex
from ybstate.cluster.fingerprint import full_fingerprint as _full_fingerprint
from ybstate.cluster.state import EMPTY, ClusterState
from ybstate.dag import DAG
from ybstate.dag.subsystem import dags_digest
from ybstate.kernel import Spec
from ybstate.model import trace
from ybstate.model.compose import Model, compose
from ybstate.model.scope import (
    ArchiveScope,
    BackupScope,
    ClusterScope,
    DagScope,
    PromoteScope,
    RestoreScope,
    Scope,
    simulation_scope,
)
from ybstate.promote import PROMOTE
from ybstate.restore import RESTORE

__all__ = [
    "ArchiveScope",
    "BackupScope",
    "ClusterScope",
    "DagScope",
    "EMPTY",
    "EVENT_TAGS",
    "ACTION_TAGS",
    "INVARIANTS",
    "MODEL",
    "Model",
    "PromoteScope",
    "RestoreScope",
    "SUBSYSTEMS",
    "Scope",
    "apply",
    "compose",
    "decide",
    "enabled",
    "fingerprint",
    "fingerprint_hex",
    "full_fingerprint",
    "model_spec",
    "replay",
    "replay_stored",
    "simulation_scope",
    "start_events",
    "start_state",
    "validate_trace",
]

SUBSYSTEMS = (CLUSTER, DAG, BACKUP, ARCHIVE, RESTORE, PROMOTE, ACCESS)
"""Every part of the model, in the order their actions are offered and checked."""

MODEL: Model = compose(SUBSYSTEMS)
"""The model: the cluster and every protocol on it."""

decide = MODEL.decide
apply = MODEL.apply
enabled = MODEL.enabled
replay = MODEL.replay
replay_stored = MODEL.replay_stored
start_events = MODEL.start_events
start_state = MODEL.start_state
INVARIANTS = MODEL.invariants
EVENT_TAGS = MODEL.event_tags
ACTION_TAGS = MODEL.action_tags

full_fingerprint = partial(_full_fingerprint, recompute={"dags_digest": dags_digest})
"""The fingerprint recomputed from scratch (tests check it equals :func:`fingerprint`)."""


def model_spec(scope: Scope | None = None, start: ClusterState | None = None) -> Spec:
    """The model within ``scope`` (default: ``Scope()``) as a Spec for the drivers, from
    ``start`` (default: the scope's starting cluster)."""
    return MODEL.spec(Scope() if scope is None else scope, start)


def validate_trace(events: Sequence[object], state: ClusterState = EMPTY) -> ClusterState:
    """Replay ``events`` through :data:`MODEL`, requiring each decision to be what
    ``decide`` makes of the request behind it (see :mod:`ybstate.model.trace`)."""
    return trace.validate_trace(MODEL, events, state)
