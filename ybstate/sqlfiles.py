"""Named SQL statements kept in ``.sql`` files.

A file holds statements, each introduced by a header comment ``-- name: NAME`` followed
by comment lines that say what it does (aiosql's convention). Parameters are bound with
``?`` or ``$name`` when executed, never formatted into the text.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

import attrs

__all__ = ["Statement", "load_statements", "package_sql"]

_NAME = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


@attrs.frozen(kw_only=True)
class Statement:
    name: str
    doc: str
    sql: str


def load_statements(text: str, source: str = "<sql>") -> dict[str, Statement]:
    """Split a .sql text into its named statements, in file order."""
    matches = list(_NAME.finditer(text))
    if not matches:
        raise ValueError(f"{source}: no '-- name: ...' statement headers")
    statements: dict[str, Statement] = {}
    for match, following in zip(matches, [*matches[1:], None]):
        body = text[match.end() : following.start() if following else len(text)]
        doc_lines, sql_lines = [], []
        for line in body.strip("\n").splitlines():
            if not sql_lines and line.lstrip().startswith("--"):
                doc_lines.append(line.lstrip()[2:].strip())
            else:
                sql_lines.append(line)
        sql = "\n".join(sql_lines).strip().rstrip(";").strip()
        name = match.group(1)
        if name in statements:
            raise ValueError(f"{source}: statement {name!r} defined twice")
        if not sql:
            raise ValueError(f"{source}: statement {name!r} has no SQL")
        statements[name] = Statement(name=name, doc=" ".join(doc_lines), sql=sql)
    return statements


@cache
def package_sql(package: str, filename: str) -> dict[str, Statement]:
    """The named statements of the file ``filename`` shipped in ``package`` (a dotted
    package name; ``filename`` may name a subdirectory, ``sql/schema.sql``)."""
    text = resources.files(package).joinpath(filename).read_text()
    return load_statements(text, f"{package.replace('.', '/')}/{filename}")
