"""Counterexamples written to files others read: an ITF trace and a DuckDB history.

:func:`write_itf` writes a :class:`~ybstate.drivers.explore.Counterexample` in the
Informal Trace Format of Apalache and Quint (``{"#meta": ..., "vars": [...], "states":
[...]}``): one state per step, the start included, each the model's description of the
state (``Spec.describe``: for the cluster, :func:`ybstate.model.project.project`), with the
action that led to it in the state's ``#meta`` as its stored tag and payload (the codec's
action tags), so :func:`read_itf_actions` gives the actions back and the path replays.
Values follow ITF: integers beyond 2^53 as ``{"#bigint": "..."}``, dicts with keys that
are not strings as ``{"#map": [[key, value], ...]}``, tuples and lists as arrays.

:func:`write_history` stores the start's events and the path's events as a ybstate
history (``ybstate replay``, ``verify``, ``rows`` and ``sql`` read it). Both write whole
files or nothing: to a temporary name, renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ybstate.codec import EventCodec, make_codec
from ybstate.drivers.explore import Counterexample
from ybstate.errors import StoreError
from ybstate.files import replacing
from ybstate.model import fingerprint_hex, replay
from ybstate.store.duck import DuckDBStore

__all__ = ["write_itf", "read_itf_actions", "write_history", "itf_value"]

_SAFE = 2**53


def itf_value(value: Any) -> Any:
    """``value`` as an ITF JSON value."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return value if -_SAFE < value < _SAFE else {"#bigint": str(value)}
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value):
            return {key: itf_value(item) for key, item in value.items()}
        return {"#map": [[itf_value(key), itf_value(item)] for key, item in value.items()]}
    if isinstance(value, list | tuple):
        return [itf_value(item) for item in value]
    if isinstance(value, set | frozenset):
        return {"#set": [itf_value(item) for item in sorted(value, key=repr)]}
    return repr(value)


def _atomic_write(path: Path, text: str) -> None:
    try:
        with replacing(path) as partial:
            partial.write_text(text)
    except OSError as error:
        raise StoreError(f"{path}: cannot write it: {error.strerror or error}") from None


def write_itf(cx: Counterexample, path: str | os.PathLike, *, codec: EventCodec | None = None) -> Path:
    """Write ``cx`` as an ITF trace at ``path``; returns the path."""
    codec = codec or make_codec()
    states = []
    for index, described in enumerate(cx.states):
        meta: dict[str, Any] = {"index": index}
        if index:
            action, _ = cx.steps[index - 1]
            try:
                meta["action"] = {"tag": codec.action_tag(action), "payload": codec.action_to_payload(action)}
            except StoreError:  # a model other than the cluster: its actions have no stored tags
                meta["action"] = {"repr": repr(action)}
        body = described if isinstance(described, dict) else {"state": described}
        states.append({"#meta": meta, **{str(k): itf_value(v) for k, v in body.items()}})
    variables = sorted({key for state in states for key in state if key != "#meta"})
    document = {
        "#meta": {
            "format": "ITF",
            "source": "ybstate",
            "description": f"{cx.invariant} violated after {cx.depth} steps: {cx.message}",
            "invariant": cx.invariant,
        },
        "vars": variables,
        "states": states,
    }
    target = Path(path)
    _atomic_write(target, json.dumps(document, indent=1, sort_keys=False) + "\n")
    return target


def read_itf_actions(path: str | os.PathLike, *, codec: EventCodec | None = None) -> list[object]:
    """The actions of an ITF trace :func:`write_itf` wrote, in order."""
    codec = codec or make_codec()
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise StoreError(f"{path}: not an ITF trace: {error}") from None
    actions = []
    for state in document.get("states", [])[1:]:
        action = state.get("#meta", {}).get("action")
        if not isinstance(action, dict) or "tag" not in action:
            raise StoreError(f"{path}: state {state.get('#meta', {}).get('index')} names no action")
        actions.append(codec.action_from_payload(action["tag"], action["payload"]))
    return actions


def write_history(start_events: Sequence[object], cx: Counterexample, path: str | os.PathLike) -> Path:
    """Store the start's events and the path's events as a new ybstate history at ``path``."""
    target = Path(path)
    if target.exists():
        raise StoreError(f"{target} exists; a counterexample is written to a new file")
    events = [*start_events, *(event for _, step_events in cx.steps for event in step_events)]
    with replacing(target) as partial, DuckDBStore(partial) as store:
        store.append(events, fingerprint_hex(replay(events)))
    return target
