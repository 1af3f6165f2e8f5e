"""Stable digests: fingerprints of states and checksums of rows.

Everything here is built on hashlib, never on Python's salted ``hash()``, so a digest
is the same in every process and on every machine. Two families:

* :func:`digest` - a 128-bit digest of a value's canonical text, for state fingerprints.
  The canonical text is ``repr``: ybstate keeps only ints, strings, None, bools, enums,
  tuples and attrs classes of those in hashed state, whose reprs are deterministic.
* :func:`row_hash` - the 64-bit hash of one row (table name, row key, value) that row
  checksums add up. It uses MD5 so that SQL can compute the same number:
  DuckDB's ``md5_number_lower(s)`` equals ``row_hash`` of the same text, which lets the
  SQL invariants recompute checksums from the stored events.

Checksums are sums modulo 2**64 of row hashes: order-independent, incremental, and
independent of table ids (rows are named by table *name*).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

__all__ = [
    "DIGEST_MASK",
    "CHECKSUM_MASK",
    "digest",
    "row_hash",
    "rows_checksum",
    "key_hash",
    "ROW_SEPARATOR",
]

DIGEST_MASK = (1 << 128) - 1
CHECKSUM_MASK = (1 << 64) - 1
ROW_SEPARATOR = "\x1f"

_blake2b = hashlib.blake2b
_md5 = hashlib.md5
_from_bytes = int.from_bytes


def digest(value: object) -> int:
    """128-bit digest of a value's canonical text (its repr)."""
    return _from_bytes(_blake2b(repr(value).encode(), digest_size=16).digest(), "little")


def row_hash(table: str, key: str, value: str) -> int:
    """64-bit hash of one row; equals DuckDB's md5_number_lower(table || US || key || US || value)."""
    text = f"{table}{ROW_SEPARATOR}{key}{ROW_SEPARATOR}{value}"
    return _from_bytes(_md5(text.encode()).digest()[8:], "little")


def rows_checksum(rows: Iterable[tuple[str, str, str]]) -> int:
    """Order-independent checksum of (table, key, value) rows."""
    total = 0
    for table, key, value in rows:
        total += row_hash(table, key, value)
    return total & CHECKSUM_MASK


def key_hash(rowkey: str) -> int:
    """32-bit position of a row key in the tablet key space (tablets are ranges of it)."""
    return _from_bytes(_md5(rowkey.encode()).digest()[:4], "little")
