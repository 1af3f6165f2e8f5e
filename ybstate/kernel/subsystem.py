"""What one part of a model contributes, as one record a composition root merges.

Each protocol package (the DAG scheduler, backups, archiving, restores, promotion, access
control) and the cluster substrate itself exports one :class:`Subsystem`. The root
(ybstate.model) merges them into one ``decide``, ``apply`` and ``enabled``, one list of
invariants, event tags, trace requests, internal tables and views, and refuses at import
a composition in which two parts claim the same action, event or tag, or an event lacks a
handler, a tag or a trace request. A part never sees the whole: a decision that needs
nested decisions is handed a :class:`~ybstate.kernel.Decision` by the root; a part that
needs what others lend it (the DAG scheduler calls the owner of a DAG when a task
finishes) reads their ``hooks`` in its ``bind``.

Pure data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from ybstate.kernel.lifecycle import Lifecycle
from ybstate.kernel.spec import Invariant

__all__ = ["StateTable", "Subsystem"]


def _frozen_map(value: Mapping) -> Mapping:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class StateTable:
    """An internal table computed from state, row for row, with its columns in order. The
    SQL view of the same ``name`` over the stored events must give the same rows."""

    name: str
    columns: tuple[str, ...]
    rows: Callable[[Any], list[tuple]]


@attrs.frozen(kw_only=True)
class Subsystem:
    """One part of a model.

    - ``depends``: the other parts whose state and helpers this one reads (and imports);
      an import test holds the code to it.
    - ``deciders``: action type -> ``decide(state, action) -> [events]``.
    - ``composite``: action type -> ``decide(decision, action)`` for decisions that make
      nested decisions: the root hands a :class:`~ybstate.kernel.Decision`, and the
      events are what it holds afterwards.
    - ``handlers``: event type -> ``apply(state, event) -> state``.
    - ``event_tags``: event type -> its stored tag, never the class name; ``action_tags``
      the same for its actions (a trace of actions is stored and read back by them).
    - ``requests``: event type -> ``request(state, event) -> action``: for an event that
      opens a decision, the request behind it (trace validation decides it again).
    - ``followers``: the event types that only ever follow another event in a decision.
    - ``enabled``: ``enabled(state, scope) -> [actions]`` within the root's scope; the part
      reads its own section of it (and the cluster's).
    - ``probes``: ``probes(state, scope) -> [actions]``: requests a client or one of the
      part's own components could send in ``state`` whether or not ``enabled`` offers
      them; the explorer tries those not offered, which must be refused (or be harmless).
    - ``invariants``: what must hold in every reachable state.
    - ``scope``: the class of this part's section of the scope.
    - ``tables``: internal tables computed from state; ``views``: (package, file) of the
      SQL views over the events, which must agree with them.
    - ``lifecycles``: the phase tables of what this part moves, for notebooks and docs.
    - ``hooks``: what this part lends to others, by the hook point's name (a constant of
      the part that reads it); ``bind(self, parts)``: the record to use once every part
      is known, for a part that reads others' hooks.
    """

    name: str
    depends: tuple[str, ...] = ()
    deciders: Mapping[type, Callable[[Any, Any], list]] = attrs.field(factory=dict, converter=_frozen_map)
    composite: Mapping[type, Callable[[Any, Any], None]] = attrs.field(factory=dict, converter=_frozen_map)
    handlers: Mapping[type, Callable[[Any, Any], Any]] = attrs.field(factory=dict, converter=_frozen_map)
    event_tags: Mapping[type, str] = attrs.field(factory=dict, converter=_frozen_map)
    action_tags: Mapping[type, str] = attrs.field(factory=dict, converter=_frozen_map)
    requests: Mapping[type, Callable[[Any, Any], Any]] = attrs.field(factory=dict, converter=_frozen_map)
    followers: frozenset[type] = frozenset()
    enabled: Callable[[Any, Any], list] | None = None
    probes: Callable[[Any, Any], list] | None = None
    invariants: tuple[Invariant, ...] = ()
    scope: type | None = None
    tables: tuple[StateTable, ...] = ()
    views: tuple[str, str] | None = None
    lifecycles: tuple[Lifecycle, ...] = ()
    hooks: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    bind: Callable[[Subsystem, tuple[Subsystem, ...]], Subsystem] | None = None

    @property
    def actions(self) -> frozenset[type]:
        """Every action type this part decides."""
        return frozenset(self.deciders) | frozenset(self.composite)

    @property
    def events(self) -> frozenset[type]:
        """Every event type this part applies."""
        return frozenset(self.handlers)
