"""The step kinds of a scenario file (DESIGN 9): one attrs class per kind, and the registry.

Each class names its ``do`` value in ``kind`` (and a fault its ``kind`` value in
``fault``), declares its keys as fields with their types and defaults, checks single
values with attrs validators, and checks names against the timeline in ``follow``.
:data:`STEPS` is the one list of step kinds: the parser (:mod:`ybstate.scenario.parse`)
structures a TOML table into these classes with cattrs, the runner
(:mod:`ybstate.scenario.run`) has exactly one runner per class, ``ybstate call --wait``
finds the class of a command through ``command``, and a test holds docs/scenarios.md to
this list.

A value that a validator or a timeline check refuses raises :class:`StepInvalid`, which the
parser turns into a :class:`~ybstate.errors.SpecError` naming the file and the step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import attrs

from ybstate.cluster.state import ClusterConfig, LogRetention
from ybstate.kernel.limits import LIMITS, MAX_TIME, name_problem
from ybstate.promote.state import PromotionStep

__all__ = [
    "STEPS",
    "FAULTS",
    "Scenario",
    "TenantDecl",
    "Timeline",
    "StepInvalid",
    "Step",
    "WriteStep",
    "WorkloadStep",
    "CreateTableStep",
    "DropTableStep",
    "FreezeStep",
    "TickStep",
    "MarkStep",
    "BackupStep",
    "ArchiveStartStep",
    "ArchiveStopStep",
    "RecycleLogStep",
    "RestoreStep",
    "PromoteStep",
    "DecommissionStep",
    "FaultStep",
    "TabletCopyFault",
    "TabletFetchFault",
    "ArchiverCrash",
    "ArchiverStall",
    "WorkerStall",
    "EntryApplyFault",
    "PromotionStepFault",
    "ExpectStep",
    "step_tag",
]


class StepInvalid(ValueError):
    """A step's value or name refused; the parser adds the file and the step number.

    A refused value of one key also carries the key and the rest of the sentence, so that
    ``ybstate call`` can name the argument the user typed where it differs from the key.
    """

    def __init__(self, message: str, *, key: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.detail = detail

    @classmethod
    def of(cls, step: Step, key: str, detail: str, *, label: str | None = None) -> StepInvalid:
        return cls(f"{step.kind}: {label or repr(key)} {detail}", key=key, detail=detail)


def _at_least(low: int, meaning: str | None = None, *, label: str | None = None):
    """An attrs validator: ``value >= low`` (None passes), refused as '<kind>: <label> must
    be <meaning>, found <value>'."""

    def check(instance: Step, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None and value < low:
            detail = f"must be {meaning or f'at least {low}'}, found {value}"
            raise StepInvalid.of(instance, attribute.name, detail, label=label)

    return check


def _at_most(limit: str):
    """An attrs validator: ``value`` is at most the upper bound of :data:`LIMITS` ``limit``."""
    high = LIMITS[limit].high

    def check(instance: Step, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None and value > high:
            detail = f"must be at most {high} ({LIMITS[limit].what}), found {value}"
            raise StepInvalid.of(instance, attribute.name, detail)

    return check


def _name(kind: str):
    """An attrs validator: a valid name of a ``kind`` (see :func:`name_problem`); None passes."""

    def check(instance: Step, attribute: attrs.Attribute, value: str | None) -> None:
        problem = None if value is None else name_problem(kind, value)
        if problem is not None:
            raise StepInvalid.of(instance, attribute.name, problem.replace(f"a {kind} ", "", 1))

    return check


def _one_of(*choices: str):
    def check(instance: Step, attribute: attrs.Attribute, value: str) -> None:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
            raise StepInvalid.of(instance, attribute.name, f"must be {listed}, found {value!r}")

    return check


def _non_empty(instance: Step, attribute: attrs.Attribute, value: str) -> None:
    if not value:
        raise StepInvalid(f"{instance.kind} needs a non-empty {attribute.name!r}")


class Timeline:
    """What exists at each point of the scenario, for checking names before running."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, int]] = {}  # tenant -> table -> tablets
        self.open_tx: dict[str, str] = {}  # tx name -> tenant
        self.ended_tx: dict[str, int] = {}  # tx name -> step that ended it
        self.marks: set[str] = set()
        # A step expected to be rejected is checked for shape only: naming a missing
        # table may be exactly the refusal it tests, so the model, not the parser, judges.
        self.lenient = False

    def tenant(self, name: str) -> None:
        if self.lenient:
            self.tables.setdefault(name, {})
            return
        if name not in self.tables:
            raise StepInvalid(f"unknown tenant {name!r} (declared: {sorted(self.tables)})")

    def table(self, tenant: str, table: str) -> None:
        self.tenant(tenant)
        if not self.lenient and table not in self.tables[tenant]:
            raise StepInvalid(
                f"tenant {tenant!r} has no table {table!r} at this step "
                f"(it has: {sorted(self.tables[tenant])})"
            )


@attrs.frozen(kw_only=True)
class Step:
    """What every step has: its place in the file and whether it is expected to be refused.

    Neither is a key of the step's table: ``number`` is its position (1-based) and
    ``expect = "rejected"`` sets ``expect_rejected``.
    """

    kind: ClassVar[str]
    rejectable: ClassVar[bool] = True  # takes expect = "rejected" / "accepted"
    # The DESIGN 7 command that `ybstate call --wait` runs as this step, and its
    # arguments by name -> the step's key.
    command: ClassVar[str | None] = None
    command_arguments: ClassVar[Mapping[str, str]] = {}
    hints: ClassVar[Mapping[str, str]] = {}  # key -> what a missing key should hold

    number: int = 0
    expect_rejected: bool = False

    def follow(self, timeline: Timeline) -> Self:
        """Check the names this step uses against ``timeline``, record what it creates or
        ends there, and return the step with defaults that depend on the timeline filled in."""
        return self


@attrs.frozen(kw_only=True)
class TenantDecl:
    """A ``[[tenants]]`` entry: a tenant the scenario creates, with its tables, before step 1."""

    name: str
    tables: tuple[tuple[str, int], ...] = ()  # (table, tablets)
    log_retention: LogRetention = LogRetention.BACKUP_FIRST


def _check_rows(instance: WriteStep, attribute: attrs.Attribute, rows: tuple[tuple[str, ...], ...]) -> None:
    for index, row in enumerate(rows, 1):
        if not row[1]:
            raise StepInvalid(f"write: {attribute.name} item {index} has an empty row key")


@attrs.frozen(kw_only=True)
class WriteStep(Step):
    kind: ClassVar[str] = "write"

    tenant: str
    put: tuple[tuple[str, str, str], ...] = attrs.field(default=(), validator=_check_rows)
    delete: tuple[tuple[str, str], ...] = attrs.field(default=(), validator=_check_rows)
    tx: str | None = attrs.field(default=None, validator=_name("transaction"))
    end: str = attrs.field(default="commit", validator=_one_of("commit", "abort", "open"))

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        for table, *_ in self.put + self.delete:
            t.table(self.tenant, table)
        tx = self.tx
        if tx is not None and not t.lenient:
            if tx in t.ended_tx:
                raise StepInvalid(
                    f"transaction name {tx!r} is reused after it ended at step {t.ended_tx[tx]}"
                )
            if tx in t.open_tx and t.open_tx[tx] != self.tenant:
                raise StepInvalid(
                    f"transaction {tx!r} belongs to tenant {t.open_tx[tx]!r}, not {self.tenant!r}: "
                    "a transaction touches one tenant only"
                )
        continuing = tx is not None and tx in t.open_tx
        if not self.put and not self.delete and not continuing:
            raise StepInvalid("write needs at least one 'put' or 'delete' (or an open 'tx' to end)")
        if tx is None and self.end == "open":
            raise StepInvalid("write with end = 'open' needs a 'tx' name so later steps can continue it")
        if tx is not None:
            if self.end == "open":
                t.open_tx[tx] = self.tenant
            else:
                t.open_tx.pop(tx, None)
                t.ended_tx[tx] = self.number
        return self


def _ratio(instance: Step, attribute: attrs.Attribute, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise StepInvalid.of(instance, attribute.name, f"must be between 0 and 1, found {value}")


@attrs.frozen(kw_only=True)
class WorkloadStep(Step):
    kind: ClassVar[str] = "workload"

    tenant: str
    transactions: int = attrs.field(validator=[_at_least(1), _at_most("transactions")])
    keys: int = attrs.field(default=16, validator=[_at_least(1), _at_most("keys")])
    abort_ratio: float = attrs.field(default=0.0, validator=_ratio)
    tables: tuple[str, ...] | None = None  # None: every table the tenant has at this step
    ops: int = attrs.field(default=3, validator=[_at_least(1), _at_most("ops")])
    concurrency: int = attrs.field(default=1, validator=[_at_least(1), _at_most("concurrency")])
    delete_ratio: float = attrs.field(default=0.1, validator=_ratio)

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        tables = tuple(sorted(t.tables[self.tenant])) if self.tables is None else self.tables
        for table in tables:
            t.table(self.tenant, table)
        if not tables:
            raise StepInvalid(f"workload: tenant {self.tenant!r} has no table to write to")
        return attrs.evolve(self, tables=tables)


@attrs.frozen(kw_only=True)
class CreateTableStep(Step):
    kind: ClassVar[str] = "create_table"

    tenant: str
    table: str = attrs.field(validator=_name("table"))
    tablets: int = attrs.field(default=1, validator=[_at_least(1), _at_most("tablets")])

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        if self.table in t.tables[self.tenant] and not t.lenient:
            raise StepInvalid(f"tenant {self.tenant!r} already has a table {self.table!r} at this step")
        t.tables[self.tenant][self.table] = self.tablets
        return self


@attrs.frozen(kw_only=True)
class DropTableStep(Step):
    kind: ClassVar[str] = "drop_table"

    tenant: str
    table: str

    def follow(self, t: Timeline) -> Self:
        t.table(self.tenant, self.table)
        t.tables[self.tenant].pop(self.table, None)
        return self


@attrs.frozen(kw_only=True)
class FreezeStep(Step):
    kind: ClassVar[str] = "freeze"


@attrs.frozen(kw_only=True)
class TickStep(Step):
    kind: ClassVar[str] = "tick"

    micros: int = attrs.field(validator=[_at_least(1), _at_most("micros")])


@attrs.frozen(kw_only=True)
class MarkStep(Step):
    kind: ClassVar[str] = "mark"

    name: str = attrs.field(validator=[_non_empty, _name("mark")])

    def follow(self, t: Timeline) -> Self:
        if self.name in t.marks and not t.lenient:
            raise StepInvalid(f"mark {self.name!r} is already defined")
        t.marks.add(self.name)
        return self


@attrs.frozen(kw_only=True)
class BackupStep(Step):
    kind: ClassVar[str] = "backup"
    command: ClassVar[str | None] = "tenant_backup_start"
    command_arguments: ClassVar[Mapping[str, str]] = {
        "tenant": "tenant",
        "destination": "destination",
        "frozen_version": "frozen_version",
        "parallel": "parallel",
    }

    tenant: str
    destination: str | None = None  # None: <backup_root>/<tenant>
    frozen_version: int = attrs.field(
        default=0, validator=[_at_least(0, "0 (newest) or a version"), _at_most("frozen_version")]
    )
    parallel: int = attrs.field(
        default=0, validator=[_at_least(0, "0 (the cluster's dag_workers) or more"), _at_most("parallel")]
    )
    wait: bool = True

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        return self


@attrs.frozen(kw_only=True)
class ArchiveStartStep(Step):
    kind: ClassVar[str] = "archive_start"
    command: ClassVar[str | None] = "tenant_incremental_backup_start"
    command_arguments: ClassVar[Mapping[str, str]] = {
        "tenant": "tenant",
        "destination": "destination",
        "start_log_id": "start_log_id",
    }

    tenant: str
    destination: str | None = None  # None: <backup_root>/<tenant>
    # 0: the newest completed backup set's start_replay_log_id
    start_log_id: int = attrs.field(
        default=0, validator=[_at_least(0, "0 (from the newest backup set) or more"), _at_most("log_id")]
    )

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        return self


@attrs.frozen(kw_only=True)
class ArchiveStopStep(Step):
    kind: ClassVar[str] = "archive_stop"
    command: ClassVar[str | None] = "tenant_incremental_backup_stop"
    command_arguments: ClassVar[Mapping[str, str]] = {"tenant": "tenant"}

    tenant: str

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        return self


@attrs.frozen(kw_only=True)
class RecycleLogStep(Step):
    """The transaction server recycles its log through ``through`` (0: as far as it may)."""

    kind: ClassVar[str] = "recycle_log"

    through: int = attrs.field(
        default=0, validator=[_at_least(0, "0 (as far as allowed) or a log id"), _at_most("log_id")]
    )


_DEFAULT = "0 (the default) or more"


def _until(instance: RestoreStep, attribute: attrs.Attribute, value: int | str) -> None:
    if isinstance(value, int) and not 0 <= value <= MAX_TIME:
        raise StepInvalid.of(
            instance, "until", f"must be a timestamp 0..{MAX_TIME}, a mark or 'latest', found {value}"
        )


@attrs.frozen(kw_only=True)
class RestoreStep(Step):
    """Restore ``source`` into the new standby ``target`` as of ``until``."""

    kind: ClassVar[str] = "restore"
    command: ClassVar[str | None] = "tenant_restore_start"
    command_arguments: ClassVar[Mapping[str, str]] = {
        "source": "source",
        "target": "target",
        "until": "until",
        "backup_set_id": "backup_set",
        "workers": "workers",
    }

    source: str
    target: str = attrs.field(validator=_name("tenant"))
    until: int | str = attrs.field(default="latest", validator=_until)  # a timestamp, a mark, "latest"
    # 0: the newest completed set with snapshot <= T
    backup_set: int = attrs.field(default=0, validator=[_at_least(0, _DEFAULT), _at_most("backup_set")])
    # 0: the cluster's restore_workers
    workers: int = attrs.field(default=0, validator=[_at_least(0, _DEFAULT), _at_most("workers")])
    # 0: twice the workers
    capacity: int = attrs.field(default=0, validator=[_at_least(0, _DEFAULT), _at_most("capacity")])
    wait: bool = True

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.source)
        until = self.until
        if isinstance(until, str) and until != "latest" and until not in t.marks and not t.lenient:
            raise StepInvalid(
                f"restore: 'until' names no mark defined before this step: {until!r} "
                f"(marks: {sorted(t.marks)})"
            )
        if not t.lenient:
            if self.target in t.tables or self.target == "sys":
                raise StepInvalid(
                    f"restore: the target {self.target!r} names a tenant that exists at this step"
                )
            t.tables[self.target] = dict(t.tables[self.source])  # the standby: read-only, same table names
        return self


@attrs.frozen(kw_only=True)
class PromoteStep(Step):
    """Promote ``standby`` in place of ``primary`` (tenant_promote_standby)."""

    kind: ClassVar[str] = "promote"
    command: ClassVar[str | None] = "tenant_promote_standby"
    command_arguments: ClassVar[Mapping[str, str]] = {
        "standby": "standby",
        "old_primary": "primary",
        "verify": "verify",
        "catch_up": "catch_up",
    }

    standby: str
    primary: str
    verify: bool = True
    catch_up: bool = True

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.standby)
        t.tenant(self.primary)
        if not t.lenient:
            # The standby takes over the name and the old primary is renamed <name>@<id>, or,
            # if a fault rolls the promotion back, both keep their names: either way is valid.
            t.tables[f"{self.primary}@"] = dict(t.tables[self.primary])
            t.tables[self.primary] = {**t.tables[self.primary], **t.tables[self.standby]}
        return self


@attrs.frozen(kw_only=True)
class DecommissionStep(Step):
    kind: ClassVar[str] = "decommission"
    command: ClassVar[str | None] = "tenant_decommission"
    command_arguments: ClassVar[Mapping[str, str]] = {"tenant": "tenant", "read_only": "read_only"}

    tenant: str
    read_only: bool = True

    def follow(self, t: Timeline) -> Self:
        base, renamed, _ = self.tenant.partition("@")  # an old primary: <name>@<tenant id>
        t.tenant(f"{base}@" if renamed else self.tenant)
        return self


@attrs.frozen(kw_only=True)
class FaultStep(Step):
    """A fault armed for later steps; one subclass per fault ``kind`` of DESIGN 9."""

    kind: ClassVar[str] = "fault"
    fault: ClassVar[str]
    rejectable: ClassVar[bool] = False

    tenant: str

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        return self


def _tablet(instance: TabletCopyFault, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and (instance.table is None or value < 0):
        raise StepInvalid("fault: 'tablet' is the index (from 0) of a tablet of 'table', and needs 'table'")


@attrs.frozen(kw_only=True)
class TabletCopyFault(FaultStep):
    """The next ``times`` copy attempts of a matching tablet of the tenant's backups fail."""

    fault: ClassVar[str] = "tablet_copy_fail"

    table: str | None = None  # None: any table of the tenant
    tablet: int | None = attrs.field(default=None, validator=_tablet)  # index within the table, from 0
    times: int = attrs.field(default=1, validator=[_at_least(1), _at_most("times")])

    def follow(self, t: Timeline) -> Self:
        t.tenant(self.tenant)
        if self.table is not None:
            t.table(self.tenant, self.table)
        if self.tablet is not None and not t.lenient and self.tablet >= t.tables[self.tenant][self.table]:
            count = t.tables[self.tenant][self.table]
            raise StepInvalid(
                f"fault: table {self.table!r} has {count} tablets (0..{count - 1}), no tablet {self.tablet}"
            )
        return self


@attrs.frozen(kw_only=True)
class TabletFetchFault(TabletCopyFault):
    """The next ``times`` baseline fetches of a matching tablet by a restore of the tenant fail."""

    fault: ClassVar[str] = "tablet_fetch_fail"


@attrs.frozen(kw_only=True)
class ArchiverCrash(FaultStep):
    """The archiver's next catch-up reads ``read`` entries into its open piece, then crashes
    before sealing them (losing them), and stays down for ``steps`` steps."""

    fault: ClassVar[str] = "archiver_crash"

    read: int = attrs.field(default=0, validator=[_at_least(0, "0 or more"), _at_most("read")])
    steps: int = attrs.field(
        default=0,
        validator=[
            _at_least(0, "0 or more", label="'steps' (how long the archiver stays down)"),
            _at_most("steps"),
        ],
    )


@attrs.frozen(kw_only=True)
class ArchiverStall(FaultStep):
    """The archiver reads nothing for ``steps`` steps."""

    fault: ClassVar[str] = "archiver_stall"

    steps: int = attrs.field(validator=[_at_least(1), _at_most("steps")])


@attrs.frozen(kw_only=True)
class WorkerStall(FaultStep):
    """Rewrite worker ``worker`` of the next restore of the tenant stalls once its incremental
    phase begins."""

    fault: ClassVar[str] = "worker_stall"

    worker: int = attrs.field(default=0, validator=[_at_least(0, "0 or more"), _at_most("worker")])


@attrs.frozen(kw_only=True)
class EntryApplyFault(FaultStep):
    """The applier of the next restore of the tenant fails to apply its ``entry``-th
    archived entry (1: the first it replays; a mutator or a commit it applies): the
    restore fails naming it, or, under ``skip_failed_apply``, skips it and carries on."""

    fault: ClassVar[str] = "entry_apply_fail"

    # a restore replays no more entries than there are log ids
    entry: int = attrs.field(
        default=1, validator=[_at_least(1, "a sequence number from 1"), _at_most("log_id")]
    )


@attrs.frozen(kw_only=True)
class PromotionStepFault(FaultStep):
    """Step ``step`` of the next promotion of the standby fails ``times`` times."""

    fault: ClassVar[str] = "promotion_step_fail"

    step: PromotionStep
    times: int = attrs.field(default=1, validator=[_at_least(1), _at_most("times")])


@attrs.frozen(kw_only=True)
class ExpectStep(Step):
    kind: ClassVar[str] = "expect"
    rejectable: ClassVar[bool] = False
    hints: ClassVar[Mapping[str, str]] = {"equals": "a value, or a list of rows"}

    sql: str
    equals: Any
    message: str | None = None


# The registry: every step kind, in the order docs/scenarios.md describes them.
STEPS: tuple[type[Step], ...] = (
    WriteStep,
    WorkloadStep,
    CreateTableStep,
    DropTableStep,
    FreezeStep,
    TickStep,
    MarkStep,
    BackupStep,
    TabletCopyFault,
    ArchiveStartStep,
    ArchiveStopStep,
    ArchiverCrash,
    ArchiverStall,
    RestoreStep,
    TabletFetchFault,
    WorkerStall,
    EntryApplyFault,
    PromoteStep,
    DecommissionStep,
    PromotionStepFault,
    RecycleLogStep,
    ExpectStep,
)
FAULTS: tuple[type[FaultStep], ...] = tuple(cls for cls in STEPS if issubclass(cls, FaultStep))


def step_tag(cls: type[Step]) -> str:
    """The one string that picks ``cls``: its ``do`` value, and for a fault its ``kind`` too."""
    return f"fault:{cls.fault}" if issubclass(cls, FaultStep) else cls.kind


@attrs.frozen(kw_only=True)
class Scenario:
    path: str
    name: str
    seed: int
    cluster: ClusterConfig
    tenants: tuple[TenantDecl, ...]
    steps: tuple[Step, ...]
