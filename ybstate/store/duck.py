"""The event store in a DuckDB file (DESIGN 10).

The file holds the ``events`` table, a ``ybstate_meta`` table that marks it as a ybstate
history, and views over the events: each subsystem's ``views.sql`` (the cluster's
``commit_log`` and friends, then the internal tables of backups, archiving, restores and
promotion). Batches are appended through Arrow in one transaction. A file that
is not a ybstate history is refused and left untouched.

Every connection is sandboxed (:data:`SANDBOX`): DuckDB may touch no file but the
history's own, load or install no extension, and its configuration is locked, so SQL run
over a history reads that history and nothing else. :meth:`DuckDBStore.query` runs a
user's query: one statement that reads (a SELECT), on the read-only connection of a
history opened for reading, or, on a history being written (a scenario's ``expect``
steps), on an in-memory copy of its events inside a transaction that is rolled back, so
that it never runs on the writing connection.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from ybstate.errors import ForeignDatabase, QueryRefused, StoreError
from ybstate.model import MODEL
from ybstate.sqlfiles import package_sql
from ybstate.store.base import FORMAT, FORMAT_VERSION, GENESIS, EventStore

__all__ = ["DuckDBStore", "connect", "MEMORY", "SANDBOX"]

MEMORY = ":memory:"

# The tables of a history, created once.
SCHEMA = ("ybstate.store", "sql/schema.sql")

# Each subsystem's views over the events, created (or replaced) whenever a history is
# opened for writing, in the order of the subsystems.
VIEW_FILES = MODEL.views

_ARROW_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("time", pa.int64()),
        ("type", pa.string()),
        ("tenant_id", pa.int64()),
        ("payload", pa.string()),
        ("digest", pa.string()),
    ]
)


SANDBOX = {
    "enable_external_access": False,  # no file but the database's own: no COPY, ATTACH, read_csv, glob
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "lock_configuration": True,  # and no SET can undo the above
}
"""DuckDB settings of every connection ybstate opens."""


def connect(path: str, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A sandboxed DuckDB connection with the settings ybstate relies on."""
    config = {"python_enable_replacements": False, **SANDBOX}
    try:
        return duckdb.connect(path, read_only=read_only, config=config)
    except duckdb.IOException as error:
        text = str(error)
        if "lock" in text.lower():
            holder = re.search(r"held in (.+?) \(PID (\d+)\)", text)
            who = f" ({holder.group(1)}, process {holder.group(2)})" if holder else ""
            raise StoreError(f"{path} is in use by another process{who}; try again when it is done") from None
        if "permission denied" in text.lower():
            raise StoreError(f"{path}: permission denied") from None
        raise ForeignDatabase(path, f"DuckDB cannot open it: {error}") from None
    except duckdb.Error as error:
        raise ForeignDatabase(path, f"DuckDB cannot open it: {error}") from None


class DuckDBStore(EventStore):
    """A history in a DuckDB database file (or ``:memory:``).

    ``create=False`` refuses a path with no file (for commands that only read).
    """

    def __init__(
        self, path: str | os.PathLike = MEMORY, *, create: bool = True, read_only: bool = False, codec=None
    ) -> None:
        super().__init__(codec)
        self.path = str(path)
        is_file = self.path != MEMORY
        if is_file and not Path(self.path).exists():
            if not create:
                raise StoreError(f"{self.path}: no such history file")
            if read_only:
                raise StoreError(f"{self.path}: no such history file to read")
        self.created = is_file and not Path(self.path).exists()
        self.read_only = read_only
        self._copy: DuckDBStore | None = None  # what a user's query reads while this store writes
        self.con = connect(self.path, read_only=read_only)
        try:
            self._check_or_initialise(read_only)
        except BaseException:
            self.con.close()
            raise

    def _check_or_initialise(self, read_only: bool) -> None:
        tables = {
            row[0]
            for row in self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
            ).fetchall()
        }
        if "ybstate_meta" in tables:
            try:
                meta = dict(self.con.execute("SELECT key, value FROM ybstate_meta").fetchall())
            except duckdb.Error as error:
                raise ForeignDatabase(
                    self.path, f"its ybstate_meta table is not ybstate's: {error}"
                ) from None
            if meta.get("format") != FORMAT:
                raise ForeignDatabase(self.path, f"format is {meta.get('format')!r}")
            if meta.get("format_version") != FORMAT_VERSION:
                raise ForeignDatabase(
                    self.path,
                    f"format version {meta.get('format_version')!r}, this ybstate reads {FORMAT_VERSION!r}",
                )
            if not read_only and meta.get("views") != _views_digest():
                # Views written by another version of ybstate: replace them. Otherwise the
                # file is not touched until something is appended.
                self.con.begin()
                self._create_views()
                self.con.commit()
            return
        if tables:
            raise ForeignDatabase(self.path, f"it has tables {sorted(tables)} but no ybstate_meta")
        if read_only or (self.path != MEMORY and not self.created):
            raise ForeignDatabase(self.path, "it is an empty database that ybstate did not make")
        statements = package_sql(*SCHEMA)
        self.con.begin()
        self.con.execute(statements["create_meta"].sql)
        self.con.execute(statements["create_events"].sql)
        self.con.execute(
            "INSERT INTO ybstate_meta VALUES ('format', ?), ('format_version', ?)",
            [FORMAT, FORMAT_VERSION],
        )
        self._create_views()
        self.con.commit()

    def _create_views(self) -> None:
        for package, filename in VIEW_FILES:
            for statement in package_sql(package, filename).values():
                self.con.execute(statement.sql)
        self.con.execute("INSERT OR REPLACE INTO ybstate_meta VALUES ('views', ?)", [_views_digest()])

    def last_seq(self) -> int:
        return self.con.execute("SELECT coalesce(max(seq), 0) FROM events").fetchall()[0][0]

    def _write(self, rows, fingerprint, last_seq) -> None:
        columns = list(zip(*rows))
        batch = pa.Table.from_arrays(
            [pa.array(col, type=field.type) for col, field in zip(columns, _ARROW_SCHEMA)],
            schema=_ARROW_SCHEMA,
        )
        nested = self._depth > 0
        if not nested:
            self.con.begin()
        try:
            self.con.register("incoming_events", batch)
            try:
                self.con.execute("INSERT INTO events SELECT * FROM incoming_events")
            finally:
                self.con.unregister("incoming_events")
            self.con.execute(
                "INSERT OR REPLACE INTO ybstate_meta VALUES ('head', ?)", [f"{last_seq} {rows[-1][5]}"]
            )
            if fingerprint is not None:
                self.con.execute(
                    "INSERT OR REPLACE INTO ybstate_meta VALUES ('fingerprint', ?), ('fingerprint_seq', ?)",
                    [fingerprint, str(last_seq)],
                )
        except duckdb.Error as error:
            if not nested:
                self.con.rollback()
            if isinstance(error, duckdb.InterruptException):
                raise KeyboardInterrupt from None
            raise StoreError(f"{self.path}: append failed: {error}") from error
        if not nested:
            self.con.commit()

    _depth = 0

    def rows(self):
        return self.con.execute(
            "SELECT seq, time, type, tenant_id, CAST(payload AS VARCHAR) FROM events ORDER BY seq"
        ).fetchall()

    def chained_rows(self):
        return self.con.execute(
            "SELECT seq, time, type, tenant_id, CAST(payload AS VARCHAR), digest FROM events ORDER BY seq"
        ).fetchall()

    def head(self) -> tuple[int, str]:
        found = self.con.execute("SELECT value FROM ybstate_meta WHERE key = 'head'").fetchall()
        if not found:
            return (0, GENESIS)
        seq, _, digest = found[0][0].partition(" ")
        return (int(seq), digest)

    def meta(self, key: str) -> str | None:
        """A value ybstate recorded with the history (``ybstate_meta``), or None."""
        found = self.con.execute("SELECT value FROM ybstate_meta WHERE key = ?", [key]).fetchall()
        return found[0][0] if found else None

    def set_meta(self, key: str, value: str) -> None:
        self.con.execute("INSERT OR REPLACE INTO ybstate_meta VALUES (?, ?)", [key, value])

    def fingerprint(self):
        meta = dict(
            self.con.execute(
                "SELECT key, value FROM ybstate_meta WHERE key IN ('fingerprint', 'fingerprint_seq')"
            ).fetchall()
        )
        if "fingerprint" not in meta:
            return None
        return int(meta["fingerprint_seq"]), meta["fingerprint"]

    def _begin(self) -> None:
        if self._depth == 0:
            self.con.begin()
        self._depth += 1

    def _commit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.con.commit()

    def _rollback(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.con.rollback()

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        """The column names and rows of a user's query over the history: one statement that
        reads, run sandboxed (see the module). Raises :class:`QueryRefused` naming why."""
        if self.read_only:
            return _run_query(self.con, sql)
        if self._copy is None:
            self._copy = DuckDBStore()
        copied = self._copy.last_seq()
        rows = self.con.execute(
            "SELECT seq, time, type, tenant_id, CAST(payload AS VARCHAR), digest FROM events "
            "WHERE seq > ? ORDER BY seq",
            [copied],
        ).fetchall()
        if rows:
            fresh = pa.Table.from_arrays(
                [pa.array(column, type=field.type) for column, field in zip(zip(*rows), _ARROW_SCHEMA)],
                schema=_ARROW_SCHEMA,
            )
            self._copy.con.register("copied_events", fresh)
            try:
                self._copy.con.execute("INSERT INTO events SELECT * FROM copied_events")
            finally:
                self._copy.con.unregister("copied_events")
        self._copy.con.begin()
        try:
            return _run_query(self._copy.con, sql)
        finally:
            self._copy.con.rollback()  # a statement that writes (a DELETE in a CTE) leaves nothing

    def query_arrow(self, sql: str) -> pa.Table:
        """A user's query over a history opened for reading, as an Arrow table (for export)."""
        if not self.read_only:
            raise StoreError("export reads a history opened for reading")
        _check_query(self.con, sql)
        try:
            return self.con.sql(sql).to_arrow_table()
        except duckdb.InterruptException:
            raise KeyboardInterrupt from None
        except duckdb.PermissionException as error:
            raise QueryRefused(str(error)) from None
        except duckdb.Error as error:
            raise QueryRefused(str(error), ran=True) from None

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
        self.con.close()


@functools.cache
def _views_digest() -> str:
    """A digest of every view's SQL: the views a history holds are this ybstate's if equal."""
    text = "\n".join(s.sql for package, name in VIEW_FILES for s in package_sql(package, name).values())
    return hashlib.sha256(text.encode()).hexdigest()


def _run_query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    _check_query(con, sql)
    try:
        cursor = con.execute(sql)
        rows = cursor.fetchall()
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except duckdb.PermissionException as error:  # the sandbox said no
        raise QueryRefused(str(error)) from None
    except duckdb.Error as error:
        raise QueryRefused(str(error), ran=True) from None
    return [d[0] for d in cursor.description or ()], rows


def _check_query(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    if not sql.strip():
        raise QueryRefused("the query is empty")
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused(str(error)) from None
    if len(statements) != 1:
        raise QueryRefused(f"one statement per query, found {len(statements)}")
    kind = statements[0].type.name
    if kind != "SELECT":
        raise QueryRefused(
            f"only a statement that reads (SELECT, SHOW, DESCRIBE) runs over a history, found {kind}"
        )
