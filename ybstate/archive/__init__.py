"""Continuous per-tenant log archiving (DESIGN 3.2) and log retention: archivers read the
shared commit log, keep their tenant's entries in pieces, and persist checkpoints; crashes
lose only what is in memory; the transaction server recycles log as retention allows.

Pure. Modules: ``state`` (see it for the protocol in brief), ``actions``, ``events`` (with
tags and trace requests), ``derive``, ``retention``, ``decide``, ``reducer``, ``enabled``
(and :class:`ArchiveScope`), ``window`` (the restorable window), ``invariants``,
``tables``, and ``views.sql``. :data:`ARCHIVE` is its record; it reads backup sets (an
archive extends one), so it depends on ``backup``.
"""

from ybstate.archive.actions import ARCHIVE_ACTION_TAGS
from ybstate.archive.decide import ARCHIVE_DECIDERS
from ybstate.archive.enabled import ArchiveScope, archive_enabled, archive_probes
from ybstate.archive.events import ARCHIVE_EVENT_TAGS, REQUESTS
from ybstate.archive.invariants import ARCHIVE_INVARIANTS
from ybstate.archive.reducer import ARCHIVE_HANDLERS
from ybstate.archive.tables import TABLES
from ybstate.kernel import Subsystem

__all__ = ["ARCHIVE", "ArchiveScope"]

ARCHIVE = Subsystem(
    name="archive",
    depends=("backup",),
    deciders=ARCHIVE_DECIDERS,
    handlers=ARCHIVE_HANDLERS,
    event_tags=ARCHIVE_EVENT_TAGS,
    action_tags=ARCHIVE_ACTION_TAGS,
    requests=REQUESTS,
    enabled=archive_enabled,
    probes=archive_probes,
    invariants=ARCHIVE_INVARIANTS,
    scope=ArchiveScope,
    tables=TABLES,
    views=("ybstate.archive", "views.sql"),
)
"""Log archiving's record."""
