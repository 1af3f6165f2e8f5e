"""A scenario file (DESIGN 9), parsed and checked: typed steps, nothing executed.

:func:`parse_scenario` reads the TOML text and checks every step before anything runs:
known step kinds, the keys each kind takes and their types, tenants and tables that
exist at that point of the timeline (following create_table / drop_table steps),
transaction names that are not reused after they ended, mark names used once. Any
problem raises :class:`~ybstate.errors.SpecError` naming the file, the step number
(1-based, in file order) and what was expected.
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import attrs

from ybstate.cluster.state import ClusterConfig, LogRetention
from ybstate.errors import SpecError
from ybstate.promote.state import PromotionStep

__all__ = [
    "Scenario",
    "TenantDecl",
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
    "ExpectStep",
    "parse_scenario",
    "load_scenario",
    "CLUSTER_STEP_KINDS",
]


# Fault kinds of DESIGN 9 this version injects.
FAULT_KINDS = (
    "tablet_copy_fail",
    "archiver_crash",
    "archiver_stall",
    "worker_stall",
    "tablet_fetch_fail",
    "promotion_step_fail",
)
PROMOTION_STEPS = {step.value.lower(): step for step in PromotionStep}
LOG_RETENTIONS = {mode.value: mode for mode in LogRetention}


@attrs.frozen(kw_only=True)
class TenantDecl:
    name: str
    tables: tuple[tuple[str, int], ...]
    log_retention: LogRetention = LogRetention.BACKUP_FIRST


@attrs.frozen(kw_only=True)
class WriteStep:
    number: int
    tenant: str
    puts: tuple[tuple[str, str, str], ...]
    deletes: tuple[tuple[str, str], ...]
    tx: str | None
    end: str
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class WorkloadStep:
    number: int
    tenant: str
    transactions: int
    keys: int
    abort_ratio: float
    tables: tuple[str, ...]
    ops: int
    concurrency: int
    delete_ratio: float
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class CreateTableStep:
    number: int
    tenant: str
    table: str
    tablets: int
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class DropTableStep:
    number: int
    tenant: str
    table: str
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class FreezeStep:
    number: int
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class TickStep:
    number: int
    micros: int
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class MarkStep:
    number: int
    name: str
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class BackupStep:
    number: int
    tenant: str
    destination: str | None  # None: <backup_root>/<tenant>
    frozen_version: int
    parallel: int
    wait: bool
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class ArchiveStartStep:
    number: int
    tenant: str
    destination: str | None  # None: <backup_root>/<tenant>
    start_log_id: int  # 0: the newest completed backup set's start_replay_log_id
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class ArchiveStopStep:
    number: int
    tenant: str
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class FaultStep:
    """A fault. ``tablet_copy_fail`` arms the next ``times`` copy attempts of the matching
    tablet to fail (``tablet_fetch_fail``: the next baseline fetches of a restore of
    ``tenant``); ``worker_stall`` stalls rewrite worker ``worker`` of the next restore of
    ``tenant`` once its incremental phase begins; ``archiver_crash`` crashes the
    tenant's archiver in its next catch-up (``read`` entries into its open piece first, so
    that the crash loses them), and keeps it down for ``steps`` steps; ``archiver_stall``
    holds the archiver back, reading nothing, for ``steps`` steps."""

    number: int
    kind: str
    tenant: str
    table: str | None
    tablet: int | None  # index of the tablet within the table, from 0
    times: int
    read: int = 0
    steps: int = 0
    worker: int = 0
    promotion_step: PromotionStep | None = None  # promotion_step_fail: the step that fails


@attrs.frozen(kw_only=True)
class RestoreStep:
    """Restore ``source`` into the new standby ``target`` as of ``until``."""

    number: int
    source: str
    target: str
    until: int | str  # a timestamp, a mark's name, or "latest"
    backup_set: int  # 0: the newest completed set with snapshot <= T
    workers: int  # 0: the cluster's restore_workers
    capacity: int  # 0: twice the workers
    wait: bool
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class PromoteStep:
    """Promote ``standby`` in place of ``primary`` (tenant_promote_standby)."""

    number: int
    standby: str
    primary: str
    verify: bool
    catch_up: bool
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class DecommissionStep:
    number: int
    tenant: str
    read_only: bool
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class RecycleLogStep:
    """The transaction server recycles its log through ``through`` (0: as far as it may)."""

    number: int
    through: int
    expect_rejected: bool = False


@attrs.frozen(kw_only=True)
class ExpectStep:
    number: int
    sql: str
    equals: Any
    message: str | None = None


Step = (
    WriteStep
    | WorkloadStep
    | CreateTableStep
    | DropTableStep
    | FreezeStep
    | TickStep
    | MarkStep
    | BackupStep
    | ArchiveStartStep
    | ArchiveStopStep
    | RecycleLogStep
    | RestoreStep
    | PromoteStep
    | DecommissionStep
    | FaultStep
    | ExpectStep
)


@attrs.frozen(kw_only=True)
class Scenario:
    path: str
    name: str
    seed: int
    cluster: ClusterConfig
    tenants: tuple[TenantDecl, ...]
    steps: tuple[Step, ...]


class _Checker:
    """Reads one table of the TOML with precise errors."""

    def __init__(self, path: str, step: int | None, table: dict[str, Any], what: str) -> None:
        self.path = path
        self.step = step
        self.table = table
        self.what = what
        self.used: set[str] = set()

    def fail(self, message: str) -> SpecError:
        return SpecError(self.path, self.step, message)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = attrs.NOTHING) -> Any:
        self.used.add(key)
        if key not in self.table:
            if default is attrs.NOTHING:
                raise self.fail(f"{self.what} needs key {key!r}")
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to Python; never accept one where a number is asked.
        ok = False if isinstance(value, bool) and bool not in kinds else isinstance(value, kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.fail(f"{self.what}: {key!r} must be {names}, found {value!r}")
        return value

    def positive(self, key: str, default: Any = attrs.NOTHING) -> int:
        value = self.get(key, int, default)
        if value < 1:
            raise self.fail(f"{self.what}: {key!r} must be at least 1, found {value}")
        return value

    def ratio(self, key: str, default: float) -> float:
        value = float(self.get(key, (int, float), default))
        if not 0.0 <= value <= 1.0:
            raise self.fail(f"{self.what}: {key!r} must be between 0 and 1, found {value}")
        return value

    def done(self) -> None:
        extra = sorted(set(self.table) - self.used)
        if extra:
            raise self.fail(f"{self.what}: unexpected key {extra[0]!r} (expected one of {sorted(self.used)})")


class _Timeline:
    """What exists at each point of the scenario, for checking names before running."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tables: dict[str, dict[str, int]] = {}  # tenant -> table -> tablets
        self.open_tx: dict[str, str] = {}  # tx name -> tenant
        self.ended_tx: dict[str, int] = {}  # tx name -> step that ended it
        self.marks: set[str] = set()
        # A step expected to be rejected is checked for shape only: naming a missing
        # table may be exactly the refusal it tests, so the model, not the parser, judges.
        self.lenient = False

    def tenant(self, c: _Checker, name: str) -> None:
        if self.lenient:
            self.tables.setdefault(name, {})
            return
        if name not in self.tables:
            raise c.fail(f"unknown tenant {name!r} (declared: {sorted(self.tables)})")

    def table(self, c: _Checker, tenant: str, table: str) -> None:
        self.tenant(c, tenant)
        if not self.lenient and table not in self.tables[tenant]:
            raise c.fail(
                f"tenant {tenant!r} has no table {table!r} at this step "
                f"(it has: {sorted(self.tables[tenant])})"
            )


def _rows(c: _Checker, key: str, width: int, tenant: str, timeline: _Timeline) -> tuple[tuple[str, ...], ...]:
    items = c.get(key, list, [])
    rows = []
    shape = "[table, key, value]" if width == 3 else "[table, key]"
    for index, item in enumerate(items, 1):
        if not (isinstance(item, list) and len(item) == width and all(isinstance(x, str) for x in item)):
            raise c.fail(f"{c.what}: {key} item {index} must be {shape} of strings, found {item!r}")
        if not item[1]:
            raise c.fail(f"{c.what}: {key} item {index} has an empty row key")
        timeline.table(c, tenant, item[0])
        rows.append(tuple(item))
    return tuple(rows)


def _write(c: _Checker, number: int, t: _Timeline) -> WriteStep:
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    puts = _rows(c, "put", 3, tenant, t)
    deletes = _rows(c, "delete", 2, tenant, t)
    tx = c.get("tx", str, None)
    end = c.get("end", str, "commit")
    if end not in ("commit", "abort", "open"):
        raise c.fail(f"write: 'end' must be 'commit', 'abort' or 'open', found {end!r}")
    if tx is not None and not t.lenient:
        if tx in t.ended_tx:
            raise c.fail(f"transaction name {tx!r} is reused after it ended at step {t.ended_tx[tx]}")
        if tx in t.open_tx and t.open_tx[tx] != tenant:
            raise c.fail(
                f"transaction {tx!r} belongs to tenant {t.open_tx[tx]!r}, not {tenant!r}: "
                "a transaction touches one tenant only"
            )
    continuing = tx is not None and tx in t.open_tx
    if not puts and not deletes and not continuing:
        raise c.fail("write needs at least one 'put' or 'delete' (or an open 'tx' to end)")
    if tx is None and end == "open":
        raise c.fail("write with end = 'open' needs a 'tx' name so later steps can continue it")
    if tx is not None:
        if end == "open":
            t.open_tx[tx] = tenant
        else:
            t.open_tx.pop(tx, None)
            t.ended_tx[tx] = number
    return WriteStep(number=number, tenant=tenant, puts=puts, deletes=deletes, tx=tx, end=end)


def _workload(c: _Checker, number: int, t: _Timeline) -> WorkloadStep:
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    tables = c.get("tables", list, sorted(t.tables[tenant]))
    for table in tables:
        if not isinstance(table, str):
            raise c.fail(f"workload: 'tables' must list table names, found {table!r}")
        t.table(c, tenant, table)
    if not tables:
        raise c.fail(f"workload: tenant {tenant!r} has no table to write to")
    return WorkloadStep(
        number=number,
        tenant=tenant,
        transactions=c.positive("transactions"),
        keys=c.positive("keys", 16),
        abort_ratio=c.ratio("abort_ratio", 0.0),
        tables=tuple(tables),
        ops=c.positive("ops", 3),
        concurrency=c.positive("concurrency", 1),
        delete_ratio=c.ratio("delete_ratio", 0.1),
    )


def _create_table(c: _Checker, number: int, t: _Timeline) -> CreateTableStep:
    tenant, table = c.get("tenant", str), c.get("table", str)
    t.tenant(c, tenant)
    if table in t.tables[tenant] and not t.lenient:
        raise c.fail(f"tenant {tenant!r} already has a table {table!r} at this step")
    tablets = c.positive("tablets", 1)
    t.tables[tenant][table] = tablets
    return CreateTableStep(number=number, tenant=tenant, table=table, tablets=tablets)


def _drop_table(c: _Checker, number: int, t: _Timeline) -> DropTableStep:
    tenant, table = c.get("tenant", str), c.get("table", str)
    t.table(c, tenant, table)
    t.tables[tenant].pop(table, None)
    return DropTableStep(number=number, tenant=tenant, table=table)


def _freeze(c: _Checker, number: int, t: _Timeline) -> FreezeStep:
    return FreezeStep(number=number)


def _tick(c: _Checker, number: int, t: _Timeline) -> TickStep:
    return TickStep(number=number, micros=c.positive("micros"))


def _mark(c: _Checker, number: int, t: _Timeline) -> MarkStep:
    name = c.get("name", str)
    if not name:
        raise c.fail("mark needs a non-empty 'name'")
    if name in t.marks and not t.lenient:
        raise c.fail(f"mark {name!r} is already defined")
    t.marks.add(name)
    return MarkStep(number=number, name=name)


def _expect(c: _Checker, number: int, t: _Timeline) -> ExpectStep:
    sql = c.get("sql", str)
    c.used.add("equals")
    if "equals" not in c.table:
        raise c.fail("expect needs key 'equals' (a value, or a list of rows)")
    return ExpectStep(number=number, sql=sql, equals=c.table["equals"], message=c.get("message", str, None))


def _backup(c: _Checker, number: int, t: _Timeline) -> BackupStep:
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    frozen_version = c.get("frozen_version", int, 0)
    if frozen_version < 0:
        raise c.fail(f"backup: 'frozen_version' must be 0 (newest) or a version, found {frozen_version}")
    parallel = c.get("parallel", int, 0)
    if parallel < 0:
        raise c.fail(f"backup: 'parallel' must be 0 (the cluster's dag_workers) or more, found {parallel}")
    return BackupStep(
        number=number,
        tenant=tenant,
        destination=c.get("destination", str, None),
        frozen_version=frozen_version,
        parallel=parallel,
        wait=c.get("wait", bool, True),
    )


def _archive_start(c: _Checker, number: int, t: _Timeline) -> ArchiveStartStep:
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    start = c.get("start_log_id", int, 0)
    if start < 0:
        raise c.fail(
            f"archive_start: 'start_log_id' must be 0 (from the newest backup set) or more, found {start}"
        )
    return ArchiveStartStep(
        number=number, tenant=tenant, destination=c.get("destination", str, None), start_log_id=start
    )


def _archive_stop(c: _Checker, number: int, t: _Timeline) -> ArchiveStopStep:
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    return ArchiveStopStep(number=number, tenant=tenant)


def _fault(c: _Checker, number: int, t: _Timeline) -> FaultStep:
    kind = c.get("kind", str)
    if kind not in FAULT_KINDS:
        raise c.fail(f"unknown fault kind {kind!r} (expected one of {list(FAULT_KINDS)})")
    tenant = c.get("tenant", str)
    t.tenant(c, tenant)
    if kind == "archiver_crash":
        read = c.get("read", int, 0)
        if read < 0:
            raise c.fail(f"fault: 'read' must be 0 or more, found {read}")
        down = c.get("steps", int, 0)
        if down < 0:
            raise c.fail(f"fault: 'steps' (how long the archiver stays down) must be 0 or more, found {down}")
        return FaultStep(
            number=number, kind=kind, tenant=tenant, table=None, tablet=None, times=1, read=read, steps=down
        )
    if kind == "promotion_step_fail":
        step = c.get("step", str)
        if step not in PROMOTION_STEPS:
            raise c.fail(f"fault: 'step' must be one of {sorted(PROMOTION_STEPS)}, found {step!r}")
        return FaultStep(
            number=number,
            kind=kind,
            tenant=tenant,
            table=None,
            tablet=None,
            times=c.positive("times", 1),
            promotion_step=PROMOTION_STEPS[step],
        )
    if kind == "worker_stall":
        worker = c.get("worker", int, 0)
        if worker < 0:
            raise c.fail(f"fault: 'worker' must be 0 or more, found {worker}")
        return FaultStep(
            number=number, kind=kind, tenant=tenant, table=None, tablet=None, times=1, worker=worker
        )
    if kind == "archiver_stall":
        return FaultStep(
            number=number,
            kind=kind,
            tenant=tenant,
            table=None,
            tablet=None,
            times=1,
            steps=c.positive("steps"),
        )
    table = c.get("table", str, None)
    if table is not None:
        t.table(c, tenant, table)
    tablet = c.get("tablet", int, None)
    if tablet is not None and (table is None or tablet < 0):
        raise c.fail("fault: 'tablet' is the index (from 0) of a tablet of 'table', and needs 'table'")
    if tablet is not None and not t.lenient and tablet >= t.tables[tenant][table]:
        count = t.tables[tenant][table]
        raise c.fail(f"fault: table {table!r} has {count} tablets (0..{count - 1}), no tablet {tablet}")
    return FaultStep(
        number=number, kind=kind, tenant=tenant, table=table, tablet=tablet, times=c.positive("times", 1)
    )


def _restore(c: _Checker, number: int, t: _Timeline) -> RestoreStep:
    source = c.get("source", str)
    t.tenant(c, source)
    target = c.get("target", str)
    until = c.get("until", (int, str), "latest")
    if isinstance(until, int) and until < 0:
        raise c.fail(f"restore: 'until' must be a timestamp >= 0, a mark or 'latest', found {until}")
    if isinstance(until, str) and until != "latest" and until not in t.marks and not t.lenient:
        raise c.fail(
            f"restore: 'until' names no mark defined before this step: {until!r} (marks: {sorted(t.marks)})"
        )
    numbers = {}
    for key in ("backup_set", "workers", "capacity"):
        numbers[key] = c.get(key, int, 0)
        if numbers[key] < 0:
            raise c.fail(f"restore: {key!r} must be 0 (the default) or more, found {numbers[key]}")
    if not t.lenient:
        if target in t.tables or target == "sys":
            raise c.fail(f"restore: the target {target!r} names a tenant that exists at this step")
        t.tables[target] = dict(t.tables[source])  # the standby: read-only, same table names
    return RestoreStep(
        number=number, source=source, target=target, until=until, wait=c.get("wait", bool, True), **numbers
    )


def _promote(c: _Checker, number: int, t: _Timeline) -> PromoteStep:
    standby, primary = c.get("standby", str), c.get("primary", str)
    t.tenant(c, standby)
    t.tenant(c, primary)
    step = PromoteStep(
        number=number,
        standby=standby,
        primary=primary,
        verify=c.get("verify", bool, True),
        catch_up=c.get("catch_up", bool, True),
    )
    if not t.lenient:
        # The standby takes over the name and the old primary is renamed <name>@<id>, or,
        # if a fault rolls the promotion back, both keep their names: either way is valid.
        t.tables[f"{primary}@"] = dict(t.tables[primary])
        t.tables[primary] = {**t.tables[primary], **t.tables[standby]}
    return step


def _decommission(c: _Checker, number: int, t: _Timeline) -> DecommissionStep:
    tenant = c.get("tenant", str)
    base, renamed, _ = tenant.partition("@")  # an old primary: <name>@<tenant id>
    t.tenant(c, f"{base}@" if renamed else tenant)
    return DecommissionStep(number=number, tenant=tenant, read_only=c.get("read_only", bool, True))


def _recycle_log(c: _Checker, number: int, t: _Timeline) -> RecycleLogStep:
    through = c.get("through", int, 0)
    if through < 0:
        raise c.fail(f"recycle_log: 'through' must be 0 (as far as allowed) or a log id, found {through}")
    return RecycleLogStep(number=number, through=through)


_PARSERS = {
    "write": _write,
    "workload": _workload,
    "create_table": _create_table,
    "drop_table": _drop_table,
    "freeze": _freeze,
    "tick": _tick,
    "mark": _mark,
    "backup": _backup,
    "archive_start": _archive_start,
    "archive_stop": _archive_stop,
    "recycle_log": _recycle_log,
    "restore": _restore,
    "promote": _promote,
    "decommission": _decommission,
    "fault": _fault,
    "expect": _expect,
}
CLUSTER_STEP_KINDS = tuple(_PARSERS)


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SpecError(path, None, f"not valid TOML: {error}") from error
    top = _Checker(path, None, document, "scenario")
    name = top.get("name", str, Path(path).stem)
    seed = top.get("seed", int, 0)
    cluster = _cluster(path, top.get("cluster", dict, {}))
    timeline = _Timeline(path)
    tenants = []
    for index, raw in enumerate(top.get("tenants", list, []), 1):
        if not isinstance(raw, dict):
            raise SpecError(path, None, f"tenants entry {index} must be a table, found {raw!r}")
        c = _Checker(path, None, raw, f"tenants entry {index}")
        tenant = c.get("name", str)
        if not tenant:
            raise c.fail(f"tenants entry {index} needs a non-empty name")
        if tenant in timeline.tables or tenant == "sys":
            raise c.fail(f"tenant {tenant!r} is declared twice (or is the system tenant)")
        tables = c.get("tables", dict, {})
        for table, tablets in tables.items():
            if isinstance(tablets, bool) or not isinstance(tablets, int) or tablets < 1:
                raise c.fail(
                    f"tenant {tenant!r}: table {table!r} needs a positive number of tablets, "
                    f"found {tablets!r}"
                )
        retention = c.get("log_retention", str, LogRetention.BACKUP_FIRST.value)
        if retention not in LOG_RETENTIONS:
            raise c.fail(
                f"tenant {tenant!r}: 'log_retention' must be one of {sorted(LOG_RETENTIONS)}, "
                f"found {retention!r}"
            )
        c.done()
        timeline.tables[tenant] = dict(tables)
        tenants.append(
            TenantDecl(name=tenant, tables=tuple(tables.items()), log_retention=LOG_RETENTIONS[retention])
        )
    steps = []
    for number, raw in enumerate(top.get("steps", list, []), 1):
        if not isinstance(raw, dict):
            raise SpecError(path, number, f"a step must be a table, found {raw!r}")
        c = _Checker(path, number, raw, "step")
        kind = c.get("do", str)
        c.what = kind
        parser = _PARSERS.get(kind)
        if parser is None:
            raise c.fail(f"unknown step kind {kind!r} (expected one of {sorted(_PARSERS)})")
        expect_rejected = False
        if kind not in ("expect", "fault"):
            expectation = c.get("expect", str, None)
            if expectation not in (None, "rejected", "accepted"):
                raise c.fail(f"{kind}: 'expect' must be 'rejected' or 'accepted', found {expectation!r}")
            expect_rejected = expectation == "rejected"
        if expect_rejected:
            trial = copy.deepcopy(timeline)
            trial.lenient = True
            step = parser(c, number, trial)
        else:
            step = parser(c, number, timeline)
        c.done()
        if expect_rejected:
            step = attrs.evolve(step, expect_rejected=True)
        steps.append(step)
    top.done()
    return Scenario(
        path=path, name=name, seed=seed, cluster=cluster, tenants=tuple(tenants), steps=tuple(steps)
    )


def _cluster(path: str, table: dict[str, Any]) -> ClusterConfig:
    c = _Checker(path, None, table, "[cluster]")
    defaults = ClusterConfig()
    values = {}
    for field in attrs.fields(ClusterConfig):
        default = getattr(defaults, field.name)
        if isinstance(default, str):
            values[field.name] = c.get(field.name, str, default)
        elif field.name == "task_retries":
            values[field.name] = c.get(field.name, int, default)
            if values[field.name] < 0:
                raise c.fail(f"[cluster]: 'task_retries' must be at least 0, found {values[field.name]}")
        else:
            values[field.name] = c.positive(field.name, default)
    c.done()
    return ClusterConfig(**values)


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise SpecError(str(path), None, f"cannot read it: {error.strerror}") from error
    return parse_scenario(text, str(path))
