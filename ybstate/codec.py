"""Events to and from plain data, for storage.

:func:`make_converter` builds one cattrs converter (never a global) that knows every
event class of the model by its explicit tag (:data:`ybstate.model.EVENT_TAGS`, which
every subsystem declares beside its events). Stored
payloads never contain class names: a tag is the contract, so renaming a class cannot
corrupt a stored history. A payload that changes shape in a later version gets an
upcast function in :data:`UPCASTS`, applied when it is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import cattrs

from ybstate.cluster.costs import UNTIMED
from ybstate.errors import StoreError
from ybstate.model import ACTION_TAGS, EVENT_TAGS

__all__ = [
    "EventCodec",
    "make_converter",
    "make_codec",
    "UPCASTS",
    "TAG_OF",
    "CLASS_OF",
    "ACTION_TAG_OF",
    "ACTION_CLASS_OF",
]

TAG_OF: dict[type, str] = dict(EVENT_TAGS)
CLASS_OF: dict[str, type] = {tag: cls for cls, tag in TAG_OF.items()}
if len(CLASS_OF) != len(TAG_OF):
    raise RuntimeError("two event classes share one tag")
ACTION_TAG_OF: dict[type, str] = dict(ACTION_TAGS)
ACTION_CLASS_OF: dict[str, type] = {tag: cls for cls, tag in ACTION_TAG_OF.items()}


_COST_KEYS = frozenset(attrs.asdict(UNTIMED))


def _untimed_before_costs(payload: dict[str, Any]) -> dict[str, Any]:
    """A cluster started before the cost table (or one of its costs) existed ran with those
    steps instantaneous: a cost its stored configuration lacks reads back as 0 (the value in
    :data:`~ybstate.cluster.costs.UNTIMED`), never as today's default, so the history
    replays and validates as it was made."""
    config = payload.get("config")
    if not isinstance(config, dict):
        return payload
    costs = config.get("costs", {})
    if not isinstance(costs, dict) or set(costs) >= _COST_KEYS:
        return payload
    return {**payload, "config": {**config, "costs": {**attrs.asdict(UNTIMED), **costs}}}


# tag -> function(payload dict) -> payload dict of the current shape.
UPCASTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"cluster.started": _untimed_before_costs}


def make_converter() -> cattrs.Converter:
    """A converter for every event and action class; tuples stay tuples, enums become their
    values; a timestamp-or-name (``int | str``, a restore's ``until``) stays what it is."""
    converter = cattrs.Converter()
    converter.register_structure_hook_func(lambda t: t == int | str, _int_or_str)
    return converter


def _int_or_str(value: object, _: type) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an int or a string, found {value!r}")
    return value


class EventCodec:
    """Turns events into (tag, tenant_id, JSON payload) rows and back."""

    def __init__(self, converter: cattrs.Converter | None = None) -> None:
        self.converter = converter or make_converter()
        self._unstructure = self.converter.unstructure
        self._structure = self.converter.structure

    def tag(self, event: object) -> str:
        try:
            return TAG_OF[type(event)]
        except KeyError:
            raise StoreError(
                f"{type(event).__name__} is not an event of the model; it has no stored tag"
            ) from None

    def to_payload(self, event: object) -> dict[str, Any]:
        return self._unstructure(event)

    def to_json(self, event: object) -> str:
        return json.dumps(self._unstructure(event), separators=(",", ":"), sort_keys=True)

    def from_payload(self, tag: str, payload: dict[str, Any]) -> object:
        cls = CLASS_OF.get(tag)
        if cls is None:
            raise StoreError(f"unknown event type {tag!r}; known: {sorted(CLASS_OF)}")
        upcast = UPCASTS.get(tag)
        if upcast is not None:
            payload = upcast(payload)
        try:
            return self._structure(payload, cls)
        except cattrs.BaseValidationError as error:  # said as paths into the payload
            detail = "; ".join(cattrs.transform_error(error, path=tag))
            raise StoreError(f"event of type {tag!r} has a malformed payload: {detail}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise StoreError(f"event of type {tag!r} has a malformed payload: {error!r}") from None

    def from_json(self, tag: str, text: str) -> object:
        return self.from_payload(tag, json.loads(text))

    def encode_all(self, events: Iterable[object]) -> list[tuple[int, int, str, int | None, str]]:
        """Rows (seq, time, type, tenant_id, payload) for a batch of events."""
        rows = []
        for event in events:
            rows.append(
                (
                    event.seq,
                    event.time,
                    self.tag(event),
                    getattr(event, "tenant_id", None),
                    self.to_json(event),
                )
            )
        return rows

    # Actions: a trace of requests (a counterexample's) is stored and read back the same way.

    def action_tag(self, action: object) -> str:
        try:
            return ACTION_TAG_OF[type(action)]
        except KeyError:
            raise StoreError(
                f"{type(action).__name__} is not an action of the model; it has no stored tag"
            ) from None

    def action_to_payload(self, action: object) -> dict[str, Any]:
        return self._unstructure(action)

    def action_from_payload(self, tag: str, payload: dict[str, Any]) -> object:
        cls = ACTION_CLASS_OF.get(tag)
        if cls is None:
            raise StoreError(f"unknown action type {tag!r}; known: {sorted(ACTION_CLASS_OF)}")
        try:
            return self._structure(payload, cls)
        except cattrs.BaseValidationError as error:
            detail = "; ".join(cattrs.transform_error(error, path=tag))
            raise StoreError(f"action of type {tag!r} has a malformed payload: {detail}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise StoreError(f"action of type {tag!r} has a malformed payload: {error!r}") from None


def make_codec() -> EventCodec:
    return EventCodec(make_converter())
