"""Compose subsystems into one model: one ``decide``, ``apply`` and ``enabled``, one list
of invariants, tags, trace requests, internal tables and views.

:func:`compose` first lets each part that needs to see the others bind itself (the DAG
scheduler to its owners' hooks, restores to the parts that release standbys), then checks
that the parts fit (:class:`~ybstate.errors.CompositionError` otherwise), then builds the
three functions. A composite decider (one that makes nested decisions) is handed a
:class:`~ybstate.kernel.Decision` holding this model's own ``decide`` and ``apply``, so
no part ever imports them.

The project's model is ``compose(SUBSYSTEMS)`` (ybstate.model); tests compose variants
(a part with one handler replaced, to plant a bug) the same way.

Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import reduce
from typing import Any

import attrs

from ybstate.cluster.actions import Start
from ybstate.cluster.enabled import setup_actions
from ybstate.cluster.events import ClusterStarted
from ybstate.cluster.fingerprint import fingerprint
from ybstate.cluster.state import EMPTY, ClusterState
from ybstate.errors import CompositionError, EventOutOfOrder, HistoryInvalid, InvalidAction
from ybstate.gcpause import paused_gc
from ybstate.kernel import Decision, Invariant, Lifecycle, Spec, StateTable, Subsystem
from ybstate.model.progress import stuck
from ybstate.model.project import project

__all__ = ["Model", "compose"]


@attrs.frozen(kw_only=True)
class Model:
    """A composed model: its parts, its three functions, and what the parts declared."""

    parts: tuple[Subsystem, ...]
    decide: Callable[[ClusterState, object], list[object]]
    apply: Callable[[ClusterState, object], ClusterState]
    enabled: Callable[[ClusterState, Any], list[object]]
    probes: Callable[[ClusterState, Any], list[object]]
    invariants: tuple[Invariant[ClusterState], ...]
    event_tags: dict[type, str] = attrs.field(repr=False)
    action_tags: dict[type, str] = attrs.field(repr=False, factory=dict)
    requests: dict[type, Callable[[ClusterState, object], object]] = attrs.field(repr=False)
    followers: frozenset[type] = attrs.field(repr=False)
    tables: tuple[StateTable, ...] = attrs.field(repr=False)
    views: tuple[tuple[str, str], ...] = attrs.field(repr=False)
    lifecycles: tuple[Lifecycle, ...] = attrs.field(repr=False)

    def part(self, name: str) -> Subsystem:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"no subsystem {name!r} (parts: {[p.name for p in self.parts]})")

    def replay(self, events, state: ClusterState = EMPTY) -> ClusterState:
        """``functools.reduce(apply, events, state)``, with the cyclic collector paused (see
        :mod:`ybstate.gcpause`: the fold makes no reference cycles)."""
        with paused_gc():
            return reduce(self.apply, events, state)

    def replay_stored(self, events, state: ClusterState = EMPTY) -> ClusterState:
        """:meth:`replay` for events read from a store, which are input like any other: an
        event that does not apply, for whatever reason, is named by its seq and type
        (:class:`~ybstate.errors.HistoryInvalid`)."""
        apply = self.apply
        with paused_gc():
            for event in events:
                try:
                    state = apply(state, event)
                except Exception as error:
                    why = f"does not apply: {error}"
                    raise HistoryInvalid(event.seq, type(event).__name__, why) from None
        return state

    def start_events(self, scope) -> list[object]:
        """The events that build the scope's starting cluster: started, tenants and tables."""
        state, events = EMPTY, []
        for action in setup_actions(scope.cluster):
            for event in self.decide(state, action):
                state = self.apply(state, event)
                events.append(event)
        return events

    def start_state(self, scope) -> ClusterState:
        """The scope's starting cluster, as :meth:`start_events` leave it."""
        return self.replay(self.start_events(scope))

    def spec(self, scope, start: ClusterState | None = None) -> Spec:
        """This model within ``scope``, as a :class:`~ybstate.kernel.Spec` for the drivers,
        from ``start`` (default: the scope's starting cluster). Its final states are those
        in which every backup, restore and promotion has ended
        (:func:`~ybstate.model.progress.stuck`): the explorer reports any other state in
        which nothing is enabled as a deadlock. Its probes are the parts' (``Subsystem.probes``):
        the explorer tries each one ``enabled`` does not offer."""
        init = self.start_state(scope) if start is None else start
        enabled, probes = self.enabled, self.probes
        return Spec(
            name="cluster",
            init=lambda: init,
            enabled=lambda state: enabled(state, scope),
            decide=self.decide,
            apply=self.apply,
            key=fingerprint,
            key_bits=128,
            invariants=self.invariants,
            describe=project,
            stuck=stuck,
            probes=lambda state: probes(state, scope),
        )


def _problems(parts: tuple[Subsystem, ...]) -> list[str]:
    """Every way the parts do not fit together, in words."""
    found: list[str] = []
    names = [p.name for p in parts]
    for name in sorted({n for n in names if names.count(n) > 1}):
        found.append(f"two subsystems are named {name!r}")
    for part in parts:
        unknown = [d for d in part.depends if d not in names]
        if unknown:
            found.append(f"{part.name} depends on unknown subsystems {unknown}")
        if part.bind is not None:
            found.append(f"{part.name} is not bound")
    claims: dict[str, dict[type, str]] = {"action": {}, "event": {}}
    tags: dict[str, str] = {}
    action_tags: dict[str, str] = {}
    for part in parts:
        for kind, types in (
            ("action", sorted(part.actions, key=_name)),
            ("event", sorted(part.events, key=_name)),
        ):
            for t in types:
                owner = claims[kind].setdefault(t, part.name)
                if owner != part.name:
                    found.append(f"{kind} {t.__name__} is claimed by {owner} and {part.name}")
        both = set(part.deciders) & set(part.composite)
        if both:
            found.append(f"{part.name} decides {_names(both)} both plainly and as composite decisions")
        found += _tag_problems(
            part, "action", part.actions, part.action_tags, action_tags, "it does not decide"
        )
        found += _tag_problems(part, "event", part.events, part.event_tags, tags, "it has no handler for")
        unexplained = part.events - set(part.requests) - part.followers
        if unexplained:
            found.append(
                f"{part.name}'s events {_names(unexplained)} have no trace request "
                "and are not declared followers"
            )
        both = set(part.requests) & part.followers
        if both:
            found.append(f"{part.name} declares {_names(both)} both as opening a decision and as followers")
        foreign = (set(part.requests) | part.followers) - part.events
        if foreign:
            found.append(
                f"{part.name} has trace requests or followers for events {_names(foreign)} it does not apply"
            )
    tables = [t.name for p in parts for t in p.tables]
    for name in sorted({n for n in tables if tables.count(n) > 1}):
        found.append(f"two subsystems compute table {name!r}")
    return found


def _tag_problems(
    part: Subsystem,
    kind: str,
    types: frozenset[type],
    tagged: Mapping[type, str],
    seen: dict[str, str],
    why: str,
) -> list[str]:
    """Every ``kind`` of ``part`` has one stored tag, of its own: ``seen`` holds the tags
    the parts before it took."""
    found = []
    untagged = types - set(tagged)
    if untagged:
        found.append(f"{part.name}'s {kind}s {_names(untagged)} have no stored tag")
    foreign = set(tagged) - types
    if foreign:
        found.append(f"{part.name} tags {kind}s {_names(foreign)} {why}")
    for t, tag in sorted(tagged.items(), key=lambda item: item[1]):
        owner = seen.setdefault(tag, f"{part.name}.{t.__name__}")
        if owner != f"{part.name}.{t.__name__}":
            label = "tag" if kind == "event" else f"{kind} tag"
            found.append(f"{label} {tag!r} is used by {owner} and {part.name}.{t.__name__}")
    return found


def _name(t: type) -> str:
    return t.__name__


def _names(types) -> list[str]:
    return sorted(t.__name__ for t in types)


def compose(subsystems: Sequence[Subsystem]) -> Model:
    """The model made of ``subsystems``, in their order (the order ``enabled`` lists their
    actions and the invariants are checked in). Raises CompositionError when they do not fit."""
    given = tuple(subsystems)
    parts = tuple(p.bind(p, given) if p.bind is not None else p for p in given)
    problems = _problems(parts)
    if problems:
        raise CompositionError("the subsystems do not fit together: " + "; ".join(problems))

    deciders: dict[type, Callable[[ClusterState, object], list[object]]] = {}
    handlers: dict[type, Callable[[ClusterState, object], ClusterState]] = {}
    offers = tuple(p.enabled for p in parts if p.enabled is not None)
    askers = tuple(p.probes for p in parts if p.probes is not None)
    known = sorted(t.__name__ for p in parts for t in p.events)

    def decide(state: ClusterState, action: object) -> list[object]:
        handler = deciders.get(type(action))
        if handler is None:
            raise InvalidAction(f"not a cluster action: {action!r}")
        if state.seq == 0 and type(action) is not Start:
            raise InvalidAction(f"the cluster is not started; {type(action).__name__} needs Start first")
        return handler(state, action)

    # The states a composite decision went through, as it applied its own events: the
    # caller applies the same events to the same states next, and gets them from here
    # (apply is a function: a result kept is the result computed). Only the last
    # decision's are kept, by the identity of the state and the event.
    reached: dict[tuple[int, int], tuple[ClusterState, object, ClusterState]] = {}

    def apply(state: ClusterState, event: object) -> ClusterState:
        if reached:
            kept = reached.get((id(state), id(event)))
            if kept is not None and kept[0] is state and kept[1] is event:
                return kept[2]
        if event.seq != state.seq + 1:
            raise EventOutOfOrder("seq", state.seq + 1, event.seq)
        if event.time < state.clock:
            raise EventOutOfOrder(f"time >= {state.clock} at seq", event.seq, event.time)
        handler = handlers.get(type(event))
        if handler is None:
            raise EventOutOfOrder("a cluster event type", known, type(event).__name__)
        if state.seq == 0 and type(event) is not ClusterStarted:
            raise EventOutOfOrder("ClusterStarted as the first event", "ClusterStarted", type(event).__name__)
        return handler(state, event)

    def enabled(state: ClusterState, scope) -> list[object]:
        actions: list[object] = []
        for offer in offers:
            actions.extend(offer(state, scope))
        return actions

    def probes(state: ClusterState, scope) -> list[object]:
        asked: list[object] = []
        for ask in askers:
            asked.extend(ask(state, scope))
        return asked

    def composite(
        nested: Callable[[Decision, object], None],
    ) -> Callable[[ClusterState, object], list[object]]:
        def decide_composite(state: ClusterState, action: object) -> list[object]:
            decision = Decision(state, decide=decide, apply=apply)
            nested(decision, action)
            reached.clear()
            now = state
            for event, after in zip(decision.events, decision.states, strict=True):
                reached[(id(now), id(event))] = (now, event, after)
                now = after
            return decision.events

        return decide_composite

    for part in parts:
        deciders.update(part.deciders)
        deciders.update((t, composite(f)) for t, f in part.composite.items())
        handlers.update(part.handlers)
    return Model(
        parts=parts,
        decide=decide,
        apply=apply,
        enabled=enabled,
        probes=probes,
        invariants=tuple(inv for p in parts for inv in p.invariants),
        event_tags={t: tag for p in parts for t, tag in p.event_tags.items()},
        action_tags={t: tag for p in parts for t, tag in p.action_tags.items()},
        requests={t: r for p in parts for t, r in p.requests.items()},
        followers=frozenset(t for p in parts for t in p.followers),
        tables=tuple(t for p in parts for t in p.tables),
        views=tuple(p.views for p in parts if p.views is not None),
        lifecycles=tuple(lc for p in parts for lc in p.lifecycles),
    )
