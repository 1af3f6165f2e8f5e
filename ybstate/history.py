"""Operations on stored histories shared by the command line, notebooks and tests:
open a store for reading, rebuild its state, compare fingerprints, run the invariants."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import attrs

from ybstate.cluster.state import ClusterState
from ybstate.errors import HistoryTampered, QueryRefused, StoreError, YbstateError
from ybstate.model import INVARIANTS, fingerprint_hex, replay_stored, validate_trace
from ybstate.store.duck import DuckDBStore

__all__ = [
    "open_history",
    "Replayed",
    "replay_store",
    "SqlInvariant",
    "sql_invariants",
    "invariants_dir",
    "InvariantResult",
    "verify_store",
]


def open_history(path: str | os.PathLike) -> DuckDBStore:
    """Open an existing history file for reading; a missing or foreign file is refused."""
    if not Path(path).exists():
        raise StoreError(f"{path}: no such history file")
    return DuckDBStore(path, create=False, read_only=True)


@attrs.frozen(kw_only=True)
class Replayed:
    state: ClusterState
    events: int
    fingerprint: str
    recorded: tuple[int, str] | None

    @property
    def matches(self) -> bool:
        return self.recorded is not None and self.recorded == (self.state.seq, self.fingerprint)


def replay_store(store) -> Replayed:
    """The stored history's state, after checking its rows are the ones appended (the digest
    chain): a row changed, moved or missing raises :class:`HistoryTampered` naming its seq."""
    rows = store.chained_rows()  # read once, for the chain and for the events
    problem = store.chain_problem(rows)
    if problem is not None:
        raise HistoryTampered(problem)
    events = store.load(rows)
    state = replay_stored(events)
    return Replayed(
        state=state, events=len(events), fingerprint=fingerprint_hex(state), recorded=store.fingerprint()
    )


@attrs.frozen(kw_only=True)
class SqlInvariant:
    name: str
    path: str
    doc: str
    sql: str


def invariants_dir() -> Path:
    """Where the SQL invariants live: packaged with ybstate, or the checkout's invariants/."""
    packaged = resources.files("ybstate").joinpath("_invariants")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "invariants"


def sql_invariants(directory: Path | None = None) -> list[SqlInvariant]:
    """Every ``*.sql`` invariant: one query per file, its header comment saying what it checks."""
    directory = invariants_dir() if directory is None else directory
    if not directory.is_dir():
        raise StoreError(f"invariants directory {directory} does not exist")
    found = []
    for path in sorted(directory.glob("*.sql")):
        text = path.read_text()
        doc = []
        for line in text.splitlines():
            if line.startswith("--"):
                doc.append(line[2:].strip())
            elif line.strip():
                break
        sql = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--")).strip()
        sql = sql.rstrip(";").strip()
        if not sql:
            raise StoreError(f"{path}: no query")
        found.append(SqlInvariant(name=path.stem, path=str(path), doc=" ".join(d for d in doc if d), sql=sql))
    return found


@attrs.frozen(kw_only=True)
class InvariantResult:
    name: str
    kind: str  # "sql" or "state"
    doc: str
    violations: tuple[tuple, ...]
    columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations


def verify_store(store: DuckDBStore, directory: Path | None = None) -> list[InvariantResult]:
    """Run every SQL invariant over the stored events, then the state invariants over the
    state rebuilt by trace validation (:func:`~ybstate.model.validate_trace`).
    Each result lists its violating rows (empty when it holds).

    A history that does not replay is reported as the violated ``history_replays`` result
    (in place of the state invariants, which need a state), after the SQL results, so the
    SQL invariants still say what is wrong with it. The first result, ``history_digest_chain``,
    says whether the rows are the ones appended (see :mod:`ybstate.store.base`)."""
    stored = store.chained_rows()  # read once, for the chain and for trace validation
    problem = store.chain_problem(stored)
    results = [
        InvariantResult(
            name="history_digest_chain",
            kind="store",
            doc="Every stored row is the one appended, in its place, and none is missing (digest chain).",
            violations=() if problem is None else ((problem,),),
            columns=("problem",),
        )
    ]
    for inv in sql_invariants(directory):
        try:
            names, rows = store.query(inv.sql)
        except QueryRefused as error:
            if not error.ran:  # not a query that reads: the file is at fault, not the history
                raise StoreError(f"{inv.path}: {error}") from None
            names, rows = ["problem"], [(f"the query fails on this history: {error.why}",)]
        columns = tuple(names)
        results.append(
            InvariantResult(
                name=inv.name, kind="sql", doc=inv.doc, violations=tuple(rows[:50]), columns=columns
            )
        )
    state, failure = None, ()
    try:
        state = validate_trace(store.load(stored))
    except YbstateError as error:
        failure = ((str(error),),)
    results.append(
        InvariantResult(
            name="history_replays",
            kind="state",
            doc="Every stored event is what decide makes of the request behind it, and replays.",
            violations=failure,
            columns=("message",),
        )
    )
    if state is None:
        return results
    for inv in INVARIANTS:
        message = inv.check(state) if state.seq else None
        results.append(
            InvariantResult(
                name=inv.name,
                kind="state",
                doc=(inv.check.__doc__ or "").strip().splitlines()[0] if inv.check.__doc__ else "",
                violations=() if message is None else ((message,),),
                columns=("message",),
            )
        )
    return results
