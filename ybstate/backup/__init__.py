"""Online full (baseline) backups of a tenant (DESIGN 3.1): phases, version pinning, one
DAG task per tablet copy with retries, verification, cancel, and backup storage.

Pure. Modules: ``state``, ``actions``, ``events`` (with the BACKUP_TASK lifecycle, tags
and trace requests), ``derive``, ``decide``, ``reducer``, ``enabled`` (and
:class:`BackupScope`), ``invariants``, ``tables``, and ``views.sql``. :data:`BACKUP` is
its record; it depends on the DAG scheduler (its copies run as a DAG).
"""

from ybstate.backup.actions import BACKUP_ACTION_TAGS
from ybstate.backup.decide import BACKUP_DECIDERS, DAG_HOOKS
from ybstate.backup.enabled import BackupScope, backup_enabled, backup_probes
from ybstate.backup.events import BACKUP_EVENT_TAGS, BACKUP_TASK, FOLLOWERS, REQUESTS
from ybstate.backup.invariants import BACKUP_INVARIANTS
from ybstate.backup.reducer import BACKUP_HANDLERS
from ybstate.backup.tables import TABLES
from ybstate.dag.subsystem import OWNER_HOOK
from ybstate.kernel import Subsystem

__all__ = ["BACKUP", "BackupScope"]

BACKUP = Subsystem(
    name="backup",
    depends=("dag",),
    deciders=BACKUP_DECIDERS,
    handlers=BACKUP_HANDLERS,
    event_tags=BACKUP_EVENT_TAGS,
    action_tags=BACKUP_ACTION_TAGS,
    requests=REQUESTS,
    followers=FOLLOWERS,
    enabled=backup_enabled,
    probes=backup_probes,
    invariants=BACKUP_INVARIANTS,
    scope=BackupScope,
    tables=TABLES,
    views=("ybstate.backup", "views.sql"),
    lifecycles=(BACKUP_TASK,),
    hooks={OWNER_HOOK: DAG_HOOKS},
)
"""Full backups' record."""
