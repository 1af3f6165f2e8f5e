"""Restore of a tenant into a new standby tenant at a point in time (DESIGN 4): the plan
and its refusals, the baseline from a backup set, the parallel incremental pipeline over
archived log, and verification.

Pure. Modules: ``state``, ``actions``, ``events`` (with the RESTORE_TASK lifecycle, tags
and trace requests), ``plan``, ``derive``, ``verify``, ``decide``, ``reducer``,
``enabled`` (and :class:`RestoreScope`), ``invariants``, ``tables``, and ``views.sql``.
:data:`RESTORE` is its record. It depends on the DAG scheduler (the baseline is a DAG),
backups (it reads backup sets) and archiving (it replays archive pieces).
"""

import attrs

from ybstate.dag.subsystem import OWNER_HOOK
from ybstate.kernel import Subsystem
from ybstate.restore.actions import RESTORE_ACTION_TAGS
from ybstate.restore.decide import COMPOSITE_DECIDERS, DAG_HOOKS, RESTORE_DECIDERS
from ybstate.restore.enabled import RestoreScope, restore_enabled, restore_probes
from ybstate.restore.events import FOLLOWERS, REQUESTS, RESTORE_EVENT_TAGS, RESTORE_TASK
from ybstate.restore.invariants import RESTORE_INVARIANTS, STANDBY_RELEASED, restore_invariants
from ybstate.restore.reducer import RESTORE_HANDLERS
from ybstate.restore.tables import TABLES

__all__ = ["RESTORE", "RestoreScope", "STANDBY_RELEASED"]


def bind(restore: Subsystem, parts: tuple[Subsystem, ...]) -> Subsystem:
    """Restore's invariants with every part's say on when a standby leaves its custody."""
    released = tuple(p.hooks[STANDBY_RELEASED] for p in parts if STANDBY_RELEASED in p.hooks)
    return attrs.evolve(restore, invariants=restore_invariants(released), bind=None)


RESTORE = Subsystem(
    name="restore",
    depends=("dag", "backup", "archive"),
    deciders=RESTORE_DECIDERS,
    composite=COMPOSITE_DECIDERS,
    handlers=RESTORE_HANDLERS,
    event_tags=RESTORE_EVENT_TAGS,
    action_tags=RESTORE_ACTION_TAGS,
    requests=REQUESTS,
    followers=FOLLOWERS,
    enabled=restore_enabled,
    probes=restore_probes,
    invariants=RESTORE_INVARIANTS,
    scope=RestoreScope,
    tables=TABLES,
    views=("ybstate.restore", "views.sql"),
    lifecycles=(RESTORE_TASK,),
    hooks={OWNER_HOOK: DAG_HOOKS},
    bind=bind,
)
"""Restores' record; the composition root binds it to the parts that release standbys."""
