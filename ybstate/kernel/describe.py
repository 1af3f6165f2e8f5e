"""What changed between two described states: the lines a counterexample prints after
each action, for any model whose ``Spec.describe`` returns nested dicts."""

from __future__ import annotations

from typing import Any

__all__ = ["changes"]


def _flat(value: Any, path: str, into: dict[str, Any]) -> None:
    if isinstance(value, dict):  # an empty dict has no leaves: its entries come and go
        for key, item in value.items():
            _flat(item, f"{path}.{key}" if path else str(key), into)
    else:
        into[path] = value


def changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two projections, one ``path: before -> after`` line each, in
    path order; a path only one of them has shows as added (+) or gone (-)."""
    old: dict[str, Any] = {}
    new: dict[str, Any] = {}
    _flat(before, "", old)
    _flat(after, "", new)
    lines = []
    for path in sorted(old.keys() | new.keys()):
        if path not in old:
            lines.append(f"+ {path}: {new[path]!r}")
        elif path not in new:
            lines.append(f"- {path}: {old[path]!r}")
        elif old[path] != new[path]:
            lines.append(f"{path}: {old[path]!r} -> {new[path]!r}")
    return lines
