"""Promotion of a standby to primary, and decommission of a tenant (DESIGN 5).

Pure. Modules: ``state``, ``actions``, ``events`` (with the PROMOTION_TASK lifecycle,
tags and trace requests), ``derive``, ``decide``, ``reducer``, ``enabled`` (and
:class:`PromoteScope`), ``invariants``, ``tables``, and ``views.sql``. :data:`PROMOTE` is
its record. It depends on restores (it promotes a restore's standby, and verifies and
catches it up the same way) and archiving (the catch-up waits for the archive).
"""

from ybstate.kernel import Subsystem
from ybstate.promote.actions import PROMOTE_ACTION_TAGS
from ybstate.promote.decide import COMPOSITE_DECIDERS, PROMOTE_DECIDERS
from ybstate.promote.derive import standby_released
from ybstate.promote.enabled import PromoteScope, promote_enabled, promote_probes
from ybstate.promote.events import PROMOTE_EVENT_TAGS, PROMOTION_TASK, REQUESTS
from ybstate.promote.invariants import PROMOTE_INVARIANTS
from ybstate.promote.reducer import PROMOTE_HANDLERS
from ybstate.promote.tables import TABLES
from ybstate.restore.invariants import STANDBY_RELEASED

__all__ = ["PROMOTE", "PromoteScope"]

PROMOTE = Subsystem(
    name="promote",
    depends=("restore", "archive"),
    deciders=PROMOTE_DECIDERS,
    composite=COMPOSITE_DECIDERS,
    handlers=PROMOTE_HANDLERS,
    event_tags=PROMOTE_EVENT_TAGS,
    action_tags=PROMOTE_ACTION_TAGS,
    requests=REQUESTS,
    enabled=promote_enabled,
    probes=promote_probes,
    invariants=PROMOTE_INVARIANTS,
    scope=PromoteScope,
    tables=TABLES,
    views=("ybstate.promote", "views.sql"),
    lifecycles=(PROMOTION_TASK,),
    hooks={STANDBY_RELEASED: standby_released},
)
"""Promotion's record; it lends restore the word on when a standby leaves its custody."""
