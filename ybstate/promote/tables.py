"""The promotion internal table computed from state, row for row: the seed's
__all_tenant_promotion_history.

The same table exists as a SQL view over the events (``views.sql`` in this package);
tests check that both give the same rows. Columns are the seed's
(docs/internal-tables.md), in the seed's order, plus ybstate's additions at the end.
"""

from __future__ import annotations

from ybstate.cluster.state import ClusterState
from ybstate.kernel import StateTable
from ybstate.promote.state import PromotionStatus, PromotionStep

__all__ = ["PROMOTION_HISTORY_COLUMNS", "promotion_history_rows"]

PROMOTION_HISTORY_COLUMNS = (
    "promotion_id", "standby_tenant_id", "old_primary_tenant_id", "promotion_time", "verification_passed",
    "row_count_match", "checksum_match", "sample_match", "downtime_ms",
    "status", "catch_up", "started_time", "fence_log_id", "failures", "error_msg", "lost_transactions",
    "caught_up_transactions",
)  # fmt: skip


def promotion_history_rows(state: ClusterState) -> list[tuple]:
    """One row per promotion, by promotion id. promotion_time and downtime_ms are 0 unless
    the promotion completed; the lost transactions are a list (DuckDB's BIGINT[])."""
    rows = []
    for task in sorted(state.promotions.values(), key=lambda t: t.promotion_id):
        completed = task.status is PromotionStatus.COMPLETED
        downtime_ms = (task.ended_ts - task.fenced_ts) // 1000 if completed else 0
        rows.append(
            (
                task.promotion_id, task.standby_id, task.primary_id, task.ended_ts if completed else 0,
                PromotionStep.VERIFY in task.done, task.row_count_match, task.checksum_match,
                task.sample_match, downtime_ms,
                task.status.value, task.catch_up, task.started_ts, task.fence_log_id, task.failures,
                task.error, list(task.lost), len(task.caught_up),
            )
        )  # fmt: skip
    return rows


TABLES = (
    StateTable(
        name="__all_tenant_promotion_history",
        columns=PROMOTION_HISTORY_COLUMNS,
        rows=promotion_history_rows,
    ),
)
"""The promotion internal table, with the SQL view (views.sql) that must agree."""
