"""A readable projection of the cluster's state, and what changed between two of them.

:func:`project` turns a :class:`~ybstate.cluster.state.ClusterState` into plain nested
dicts of what a reader of a counterexample wants to see, per part: tenants (role,
status, rows held), open transactions, frozen versions, backups (phase, tablets copied),
archivers (status, read and sealed positions, pieces), restores (phase, the pipeline's
read, queue and applied counts, stalled workers), promotions (status, steps done) and the
routing of names. Hashed maps become their contents; ids become the keys readers know.
:func:`ybstate.kernel.changes` lists what differs between two projections, which a
counterexample prints after each action.

The projection is for reading, and for the ITF traces of counterexamples; it is not the
state (the fingerprint covers everything, this shows what explains a violation).
"""

from __future__ import annotations

from typing import Any

from ybstate.cluster import ghost
from ybstate.cluster.state import ClusterState

__all__ = ["project"]


def project(state: ClusterState) -> dict[str, Any]:
    tenants = {}
    for tenant in sorted(state.tenants.values(), key=lambda t: t.tenant_id):
        tenants[tenant.name] = {
            "id": tenant.tenant_id,
            "role": tenant.role.value,
            "status": tenant.status.value,
            "writable": tenant.writable,
            "rows": len(ghost.content(state, tenant.tenant_id)),
        }
    name = {t.tenant_id: t.name for t in state.tenants.values()}
    return {
        "log": {"last_log_id": state.last_log_id, "recycled_through": state.recycled_through},
        "tenants": tenants,
        "open_transactions": {
            tx_id: name.get(tx.tenant_id, tx.tenant_id) for tx_id, tx in sorted(state.open_txns.items())
        },
        "frozen_versions": sorted(v.version for v in state.frozen.values() if v.dropped_ts is None),
        "backups": {
            b.task_id: {
                "tenant": name.get(b.tenant_id, b.tenant_id),
                "phase": b.phase.value,
                "copied": f"{b.copied}/{len(b.tablets)}",
            }
            for b in sorted(state.backups.values(), key=lambda b: b.task_id)
        },
        "archivers": {
            name.get(a.tenant_id, a.tenant_id): {
                "status": a.status.value,
                "run": a.run,
                "next_log_id": a.next_log_id,
                "sealed_through": a.sealed_through,
                "open_piece": None if a.piece is None else a.piece.kept,
                "pieces": sum(1 for key in state.pieces if key[0] == a.tenant_id),
                "holes": len(a.holes),
            }
            for a in sorted(state.archivers.values(), key=lambda a: a.tenant_id)
        },
        "restores": {
            r.task_id: {
                "target": r.target_name,
                "phase": r.phase.value,
                "loaded": f"{r.loaded}/{r.tablets}",
                "read": r.read,
                "queue": list(r.rewritten),
                "applied": f"{r.applied}/{r.entries}",
                "stalled": list(r.stalled),
            }
            for r in sorted(state.restores.values(), key=lambda r: r.task_id)
        },
        "promotions": {
            p.promotion_id: {
                "standby": p.standby_name,
                "primary": p.primary_name,
                "status": p.status.value,
                "done": [s.value for s in p.done],
            }
            for p in sorted(state.promotions.values(), key=lambda p: p.promotion_id)
        },
        "routing": dict(sorted(state.routing.items())),
    }
