"""Exhaustive breadth-first exploration of any :class:`~ybstate.kernel.Spec`.

:func:`explore` visits every state reachable from ``spec.init()`` level by level, keyed by
``spec.key(state)``, and checks the invariants at each distinct state (the start state
included). It stops at the first violation; because the search is breadth-first, the
:class:`Counterexample` it returns is a shortest one. Bounds on the number of states or
on the depth cut the search short, and the result says so (``complete=False``).

Memory per visited state is one dict entry (its key -> its number) and, in two arrays,
its parent's number and the index of the action that reached it (:class:`Visited`).
States themselves are kept only for the frontier. A counterexample's actions and events
are rebuilt at the end by re-running ``enabled``/``decide``/``apply`` along the path.

When ``key`` is a fingerprint rather than the state itself, two distinct states whose
fingerprints collide count as one; the search is then exact only up to collisions, and
the coverage reports the chance of one.

Every run also records its :class:`~ybstate.drivers.coverage.Coverage` (actions enabled
and taken, invariants' subjects, goals reached, new states per depth); the result's
``verdict`` is "violated", "vacuous" (a goal never reached, an invariant's subject never
met), "incomplete" (cut by a bound) or "holds".

Hangs are violations too (issue 13). A state in which nothing is enabled and that the
model's ``spec.stuck`` does not accept as a proper end is a *deadlock* (TLC's check): the
search stops there with a counterexample named "deadlock", a shortest one. A model's
progress properties (``spec.progress``, :class:`~ybstate.kernel.Completion`) are judged
on the explored graph once the search has visited every reachable state: for that the
explorer keeps, only when the model has such properties, one integer per transition
(the successor's number) and, per state and property, what is pending and what is done;
a backward pass from the states where each thing is done finds the shallowest state from
which a thing pending there can no longer be done. A search cut by a bound cannot judge
them, and says so (``progress_checked``).

Raises :class:`~ybstate.errors.InvalidParameter` for a bad bound,
:class:`~ybstate.errors.EnabledActionFailed` when the model rejects an action it
offered, :class:`~ybstate.errors.CounterexampleNotReproduced` when a path does not
replay (a nondeterministic model, or a changed one).
"""

from __future__ import annotations

import sys
import time
from array import array
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from itertools import accumulate
from typing import Any

import attrs

from ybstate.drivers.coverage import Coverage, Observer, ProgressCoverage
from ybstate.errors import ActionRejected, CounterexampleNotReproduced, EnabledActionFailed, InvalidParameter
from ybstate.kernel import Completion, Goal, Invariant, Spec, changes

__all__ = [
    "DEADLOCK",
    "REFUSAL",
    "Probing",
    "Counterexample",
    "deadlock_message",
    "Exploration",
    "Progress",
    "explore",
    "rebuild_counterexample",
    "replay_counterexample",
    "why_not_broken",
]

Step = tuple[Any, tuple[Any, ...]]
_CLOCK_EVERY = 1024  # new states between looks at the clock when max_seconds is set
DEADLOCK = "deadlock"
"""The name a deadlock's counterexample goes by (as an invariant's would)."""
REFUSAL = "refuses_what_it_does_not_offer"
"""The name of the probing check's counterexample: a request ``enabled`` does not offer,
which ``decide`` accepts and whose events do not apply or break an invariant."""


@attrs.frozen(kw_only=True)
class Counterexample:
    """A shortest path from ``spec.init()`` to a state that breaks ``invariant``.

    ``invariant`` is an invariant's name, "deadlock" (nothing is enabled in the last state,
    which is not a final state), or a progress property's name (a thing pending in the
    last state can no longer be done from there). ``steps`` holds each action with the
    events ``decide`` made of it; ``depth`` is the number of steps (0 when the start state
    itself is bad).
    """

    invariant: str
    message: str
    depth: int
    steps: tuple[Step, ...]
    # spec.describe of the start state and of the state after each step (a readable
    # projection, when the model has one; its repr otherwise).
    states: tuple[Any, ...] = ()

    def format(self) -> str:
        """A listing to read and to replay: one numbered line per action, its events below,
        then (when the model describes its states as dicts) what the step changed."""
        where = "in the start state" if self.depth == 0 else f"after {self.depth} steps"
        lines = [f"{self.invariant} violated {where}: {self.message}"]
        width = len(str(len(self.steps)))
        described = len(self.states) == len(self.steps) + 1 and all(isinstance(s, dict) for s in self.states)
        for number, (action, events) in enumerate(self.steps, 1):
            lines.append(f"{number:>{width}}. {action!r}")
            lines.extend(f"{'':>{width}}     {event!r}" for event in events)
            if described:
                lines.extend(
                    f"{'':>{width}}   ~ {line}"
                    for line in changes(self.states[number - 1], self.states[number])
                )
        return "\n".join(lines)

    def actions(self) -> tuple[Any, ...]:
        return tuple(action for action, _ in self.steps)


@attrs.frozen(kw_only=True)
class Progress:
    """A snapshot of a running exploration, handed to the ``progress`` callback."""

    states: int
    transitions: int
    depth: int
    queue: int
    seconds: float


@attrs.frozen(kw_only=True)
class Exploration:
    """What :func:`explore` found.

    ``depth`` is the depth of the deepest state visited. ``complete`` is True only when
    every reachable state was visited; ``truncated_by`` names the bound that cut the
    search ("states", "depth" or "seconds"), None otherwise. A violation stops the search too: then
    ``complete`` is False and ``truncated_by`` None. ``progress_checked`` is True when the
    model's progress properties were judged (the search visited every reachable state and
    found no invariant broken and no deadlock first); False when it has none or could not
    judge them.
    """

    spec: str
    distinct_states: int
    transitions: int
    depth: int
    complete: bool
    truncated_by: str | None
    violation: Counterexample | None
    seconds: float
    coverage: Coverage | None = None
    progress_checked: bool = False
    # requests not offered that the search tried (None: the model has no probes), and
    # those decide accepted harmlessly (every other one was refused)
    probes_tried: int | None = None
    probes_accepted: int | None = None
    # the bytes the visited set took at the end (keys, parent pointers, the explored graph
    # when progress is judged); None unless asked for (``measure_memory``)
    visited_bytes: int | None = None

    @property
    def states_per_second(self) -> float:
        return self.distinct_states / self.seconds if self.seconds > 0 else float("inf")

    @property
    def verdict(self) -> str:
        """ "violated", "vacuous", "incomplete" or "holds" (DESIGN 13)."""
        if self.violation is not None:
            return "violated"
        if self.coverage is not None and self.coverage.vacuous:
            return "vacuous"
        return "holds" if self.complete else "incomplete"


def _check_bound(name: str, value: int | None, least: int, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        allowed = f"None or an int >= {least}" if optional else f"an int >= {least}"
        raise InvalidParameter(name, value, f"must be {allowed}")


def explore(
    spec: Spec,
    *,
    max_states: int | None = None,
    max_depth: int | None = None,
    progress: Callable[[Progress], object] | None = None,
    progress_every: int = 10_000,
    check_invariants: bool = True,
    coverage: bool = True,
    max_seconds: float | None = None,
    measure_memory: bool = False,
) -> Exploration:
    """Visit every state reachable from ``spec.init()``, breadth first.

    ``max_states`` caps the distinct states visited, ``max_depth`` the number of steps
    from the start state, ``max_seconds`` the time (looked at every 1,024 new states).
    ``progress`` is called with a :class:`Progress` each time another ``progress_every``
    distinct states have been found. ``coverage=False`` skips the coverage bookkeeping
    (benchmarks measure its cost that way). ``measure_memory`` adds up, at the end, the
    bytes the visited set took (:attr:`Exploration.visited_bytes`).
    """
    _check_bound("max_states", max_states, 1)
    _check_bound("max_depth", max_depth, 0)
    _check_bound("progress_every", progress_every, 1, optional=False)
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) or not max_seconds > 0
    ):
        raise InvalidParameter("max_seconds", max_seconds, "must be None or a number > 0")
    started = time.perf_counter()
    deadline = None if max_seconds is None else started + max_seconds

    init = spec.init()
    init_key = spec.key(init)
    invariants = spec.invariants if check_invariants else ()
    # Each new state is checked against its parent, where every invariant held: an
    # invariant with an incremental form looks only at what the step changed.
    checks = tuple(inv.since or _whole(inv.check) for inv in invariants)
    observer = Observer(invariants, spec.goals) if coverage else None
    signatures = None if observer is None else observer.signatures
    watching = observer is not None and observer.watching
    per_depth = [1]
    stuck = spec.stuck
    probing = None if spec.probes is None else Probing(spec)
    # The explored graph, kept only for progress properties (see _Graph).
    graph = _Graph(spec.progress, init_key, init) if spec.progress else None
    visited = Visited(init, init_key, None if graph is None else graph.ids)
    ids, parent, via = visited.ids, visited.parent, visited.via
    edge = None if graph is None else graph.targets.append

    def done(
        states: int,
        transitions: int,
        depth: int,
        cut: str | None,
        cx: Counterexample | None,
        checked: bool = False,
    ):
        result = _result(
            spec, started, states, transitions, depth, cut, cx, observer, per_depth, graph, checked, probing
        )
        if not measure_memory:
            return result
        return attrs.evolve(result, visited_bytes=visited.bytes(graph))

    if observer is not None:
        observer.visited(init, 0)
    bad = _first_violation(invariants, init)
    if bad is not None:
        cx = visited.counterexample(spec, 0, bad)
        return done(1, 0, 0, None, cx)

    enabled = spec.enabled
    decide = spec.decide
    apply = spec.apply
    key = spec.key
    # One comparison per new state serves the bounds, the clock and the progress reports:
    # reaching max_depth lowers the budget to the states seen so far, so the first state
    # beyond it trips the same test, and ``checkpoint`` is whichever of budget, report or
    # look at the clock comes first.
    budget = sys.maxsize if max_states is None else max_states
    budget_reason = "states"
    report_at = progress_every if progress is not None else sys.maxsize
    clock_at = sys.maxsize if deadline is None else _CLOCK_EVERY
    checkpoint = min(budget, report_at, clock_at)

    states = 1
    transitions = 0
    expanded = 0
    depth = 0
    frontier: list[Any] = [init]
    frontier_numbers: list[int] = [0]
    while frontier:
        if depth == max_depth:
            budget = states
            budget_reason = "depth"
            checkpoint = min(budget, report_at, clock_at)
        next_states: list[Any] = []
        next_numbers: list[int] = []
        push_state = next_states.append
        push_number = next_numbers.append
        for state, number in zip(frontier, frontier_numbers, strict=True):
            actions = enabled(state)
            # the checks of the state itself: a deadlock, a request not offered yet accepted
            bad = None
            if not actions and stuck is not None:
                what = stuck(state)
                if what is not None:
                    bad = visited.counterexample(spec, number, (DEADLOCK, deadlock_message(what)))
            if bad is None and probing is not None:
                accepted = probing.try_state(state, actions)
                if accepted is not None:
                    bad = probing.counterexample(spec, visited, number, accepted)
            if bad is not None:
                if next_states:
                    per_depth.append(len(next_states))
                return done(states, transitions, depth + 1 if next_states else depth, None, bad)
            if graph is not None:
                graph.offsets.append(len(graph.targets))
            transitions += len(actions)
            expanded += 1
            if signatures is not None:  # coverage: inlined Observer.expanded
                signature = tuple(map(type, actions))
                signatures[signature] = signatures.get(signature, 0) + 1
            for index, action in enumerate(actions):
                try:
                    events = decide(state, action)
                except Exception as exc:
                    raise visited.model_bug(spec, number, action, depth, "decide", exc) from exc
                nxt = state
                try:
                    for event in events:
                        nxt = apply(nxt, event)
                except Exception as exc:
                    raise visited.model_bug(spec, number, action, depth, "apply", exc) from exc
                nxt_key = key(nxt)
                seen = ids.get(nxt_key)
                if seen is not None:
                    if edge is not None:  # progress: the graph keeps every transition
                        edge(seen)
                    continue
                if states >= checkpoint:
                    timed_out = states >= clock_at and time.perf_counter() > deadline  # type: ignore[operator]
                    if states >= budget or timed_out:
                        transitions -= len(actions) - index - 1  # not examined
                        deepest = depth + 1 if next_states else depth
                        per_depth.append(len(next_states))
                        cut = "seconds" if timed_out and states < budget else budget_reason
                        return done(states, transitions, deepest, cut, None)
                    if states >= clock_at:
                        clock_at += _CLOCK_EVERY
                    if states >= report_at:
                        report_at += progress_every
                        progress(  # type: ignore[misc]  # report_at stays maxsize without one
                            Progress(
                                states=states,
                                transitions=transitions - (len(actions) - index - 1),
                                depth=depth + 1 if next_states else depth,
                                queue=states - expanded,
                                seconds=time.perf_counter() - started,
                            )
                        )
                    checkpoint = min(budget, report_at, clock_at)
                ids[nxt_key] = states
                parent.append(number)
                via.append(index)
                if graph is not None:
                    graph.found(nxt, states)
                states += 1
                push_state(nxt)
                push_number(states - 1)
                if watching and observer.watching:  # type: ignore[union-attr]
                    observer.visited(nxt, depth + 1)  # type: ignore[union-attr]
                for check in checks:
                    message = check(state, nxt)
                    if message is not None:
                        transitions -= len(actions) - index - 1  # not examined
                        name = invariants[checks.index(check)].name
                        cx = visited.counterexample(spec, states - 1, (name, message))
                        per_depth.append(len(next_states))
                        return done(states, transitions, depth + 1, None, cx)
        if next_states:
            depth += 1
            per_depth.append(len(next_states))
        frontier = next_states
        frontier_numbers = next_numbers
    if graph is None:
        return done(states, transitions, depth, None, None)
    graph.offsets.append(len(graph.targets))
    stalled = graph.stalled()
    if stalled is None:
        return done(states, transitions, depth, None, None, checked=True)
    number, prop, thing = stalled
    bad = (prop.name, prop.message.format(thing=thing))
    return done(states, transitions, depth, None, visited.counterexample(spec, number, bad), True)


class Visited:
    """The visited set: each state's key -> its number (states are numbered in the order
    the search finds them), and per number its parent's number and the index of the
    action, among those ``enabled`` offers in the parent, that reached it. About 130
    bytes per state with a 128-bit fingerprint (:meth:`bytes`); a path is rebuilt by
    re-running ``enabled``, ``decide`` and ``apply`` along the indexes from the start."""

    __slots__ = ("ids", "init", "parent", "via")

    def __init__(self, init: Any, init_key: Hashable, ids: dict[Hashable, int] | None = None) -> None:
        self.init = init
        self.ids: dict[Hashable, int] = {} if ids is None else ids
        self.ids[init_key] = 0
        self.parent = array("i", [-1])
        self.via = array("i", [-1])

    def indexes(self, number: int) -> list[int]:
        """The action indexes from the start state to state ``number``."""
        found = []
        while number > 0:
            found.append(self.via[number])
            number = self.parent[number]
        found.reverse()
        return found

    def path(self, spec: Spec, number: int) -> tuple[tuple[Any, ...], Any]:
        """The actions from the start state to state ``number``, and that state, re-run.
        Raises CounterexampleNotReproduced if they reach another state (a model whose
        ``enabled``, ``decide`` or ``apply`` is not deterministic)."""
        state = self.init
        actions = []
        for index in self.indexes(number):
            offered = spec.enabled(state)
            if index >= len(offered):
                raise CounterexampleNotReproduced("", len(actions), _NOT_DETERMINISTIC)
            actions.append(offered[index])
            for event in spec.decide(state, offered[index]):
                state = spec.apply(state, event)
        if self.ids.get(spec.key(state)) != number:
            raise CounterexampleNotReproduced("", len(actions), _NOT_DETERMINISTIC)
        return tuple(actions), state

    def counterexample(self, spec: Spec, number: int, bad: tuple[str, str]) -> Counterexample:
        """The steps to state ``number``, which breaks ``bad`` (its name, its message)."""
        try:
            actions, _ = self.path(spec, number)
        except CounterexampleNotReproduced as error:
            raise CounterexampleNotReproduced(bad[0], error.step, error.why) from None
        cx, _ = _rebuild(spec, actions, *bad)
        return cx

    def model_bug(self, spec: Spec, number: int, action: Any, depth: int, stage: str, exc: Exception):
        """The error for ``action`` failing in state ``number`` though it was offered there."""
        return EnabledActionFailed(action, depth, stage, exc, self.path(spec, number)[0])

    def bytes(self, graph: _Graph | None = None) -> int:
        """The memory the visited set takes (and the explored graph's arrays, if any): the
        dict with its keys and its numbers, the parent and action arrays."""
        total = sys.getsizeof(self.ids) + sys.getsizeof(self.parent) + sys.getsizeof(self.via)
        for key, number in self.ids.items():
            total += sys.getsizeof(key) + (sys.getsizeof(number) if number > 256 else 0)
        if graph is not None:
            total += sum(sys.getsizeof(a) for a in (graph.offsets, graph.targets, graph.marks))
        return total


_NOT_DETERMINISTIC = (
    "re-running the path reached a different state: enabled, decide or apply is not deterministic"
)


def _result(
    spec: Spec,
    started: float,
    states: int,
    transitions: int,
    depth: int,
    truncated_by: str | None,
    violation: Counterexample | None,
    observer: Observer | None = None,
    per_depth: Sequence[int] = (),
    graph: _Graph | None = None,
    progress_checked: bool = False,
    probing: Probing | None = None,
) -> Exploration:
    seconds = time.perf_counter() - started
    covered = None if observer is None else observer.coverage(states, per_depth, spec.key_bits)
    if covered is not None and graph is not None:
        counts = graph.counts()
        covered = attrs.evolve(
            covered,
            progress={
                prop.name: ProgressCoverage(checked=progress_checked, pending=pending, things=things)
                for prop, (pending, things) in zip(spec.progress, counts, strict=True)
            },
        )
    return Exploration(
        spec=spec.name,
        distinct_states=states,
        transitions=transitions,
        depth=depth,
        complete=truncated_by is None and violation is None,
        truncated_by=truncated_by,
        violation=violation,
        seconds=seconds,
        coverage=covered,
        progress_checked=progress_checked,
        probes_tried=None if probing is None else probing.tried,
        probes_accepted=None if probing is None else probing.accepted,
    )


class Probing:
    """The explorer's probing check (issue 13, item 8(c)): in each state it expands, the
    requests ``spec.probes`` names that ``enabled`` does not offer are tried. ``decide``
    must refuse each (raise an :class:`~ybstate.errors.ActionRejected`; ``decide`` is
    pure, so the state is unchanged), or accept it harmlessly: its events apply and every
    invariant holds after them (a request only the scope's bounds leave out). Anything else
    is a violation named :data:`REFUSAL`: decide failing with another error, its events
    refused by apply, an invariant broken. ``tried`` and ``accepted`` count what was done."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.tried = 0
        self.accepted = 0

    def try_state(self, state: Any, offered: Sequence[Any]) -> tuple[Any, tuple, Any, str] | None:
        """The first probe of ``state`` that is not refused and not harmless, as (action,
        events, the state after them or None, what is wrong); None if there is none."""
        asked = self.spec.probes(state)  # type: ignore[misc]
        if not asked:
            return None
        offers = set(offered)
        for action in asked:
            if action in offers:
                continue
            self.tried += 1
            wrong = self.judge(state, action)
            if wrong is not None:
                return (action, *wrong)
        return None

    def judge(self, state: Any, action: Any) -> tuple[tuple, Any, str] | None:
        """None when ``decide`` refuses ``action``, or accepts it harmlessly (counted in
        ``accepted``); else (events, the state after them or None, what is wrong)."""
        spec = self.spec
        try:
            events = tuple(spec.decide(state, action))
        except ActionRejected:
            return None
        except Exception as error:
            return (), None, f"decide fails on {action!r}, which is not offered here: {error!r}"
        after = state
        try:
            for event in events:
                after = spec.apply(after, event)
        except Exception as error:
            return (
                events,
                None,
                (
                    f"decide accepts {action!r}, which is not offered here, but apply refuses its "
                    f"events: {error}"
                ),
            )
        broken = spec.violations(after, state)
        if broken:
            first = broken[0]
            return (
                events,
                after,
                (
                    f"decide accepts {type(action).__name__}, which is not offered here, and it breaks "
                    f"{first.invariant}: {first.message}"
                ),
            )
        self.accepted += 1
        return None

    def counterexample(self, spec: Spec, visited: Visited, number: int, found: tuple) -> Counterexample:
        """The shortest path to the probed state (number ``number``), then the probe
        itself as the last step when its events applied (the state they reach breaks an
        invariant)."""
        action, events, after, message = found
        cx = visited.counterexample(spec, number, (REFUSAL, message))
        if after is None:
            return cx
        return attrs.evolve(
            cx,
            steps=(*cx.steps, (action, events)),
            states=(*cx.states, spec.describe(after)),
            depth=cx.depth + 1,
        )


def deadlock_message(what: str) -> str:
    """A deadlock's message, from what ``spec.stuck`` says is stuck."""
    return f"nothing is enabled, and this is not a final state: {what}"


def _signature(asks: Sequence[tuple[Callable, Callable]], state: Any) -> tuple:
    """What ``state`` has pending and done, per progress property ((pending, done) each)."""
    return tuple([(tuple(pending(state)), tuple(done(state))) for pending, done in asks])


class _Graph:
    """The explored transition relation and what each state has pending and done, then the
    backward pass that judges the progress properties on it.

    States are numbered in the order the search finds them, which is the order it expands
    them (shallowest first): ``targets[offsets[n]:offsets[n + 1]]`` are the numbers of the
    successors of state ``n``, one per transition (repeats and self-loops included). What
    state ``n`` has pending and done, for every property, is its *signature*; states share
    a few signatures, so each state keeps only the signature's number (``marks[n]``).
    Memory: a dict entry per state (key -> number), 4 bytes per transition and per state.
    Numbers are C ints: 2^31 states would need far more memory for the visited set alone.
    """

    def __init__(self, progress: Sequence[Completion], init_key: Hashable, init: Any) -> None:
        self.progress = tuple(progress)
        self.asks = tuple((prop.pending, prop.done) for prop in self.progress)
        # the visited set's dict (key -> number), which the search fills (Visited)
        self.ids: dict[Hashable, int] = {init_key: 0}
        self.offsets = array("i")
        self.targets = array("i")
        self.marks = array("i")
        # signature -> its number; a signature is, per property, (pending, done)
        self.signatures: dict[tuple[tuple[tuple[Hashable, ...], tuple[Hashable, ...]], ...], int] = {}
        self.marked(self.signature(init))

    def signature(self, state: Any) -> tuple:
        return _signature(self.asks, state)

    def marked(self, signature: tuple) -> None:
        """Record the signature of the next state numbered."""
        mark = self.signatures.get(signature)
        if mark is None:
            mark = self.signatures[signature] = len(self.signatures)
        self.marks.append(mark)

    def found(self, state: Any, number: int) -> None:
        """Record a new state, numbered ``number`` (not the start), and the transition
        that found it."""
        self.targets.append(number)
        self.marked(self.signature(state))

    def counts(self) -> list[tuple[int, int]]:
        """Per property: the states in which something was pending, the things ever pending."""
        states = Counter(self.marks)
        found: list[tuple[int, int]] = []
        for index in range(len(self.progress)):
            pending = [(signature[index][0], states[mark]) for signature, mark in self.signatures.items()]
            found.append(
                (
                    sum(times for things, times in pending if things and times),
                    len({thing for things, times in pending if times for thing in things}),
                )
            )
        return found

    def stalled(self) -> tuple[int, Completion, Hashable] | None:
        """The first state found (so a shallowest one) in which some thing is pending that
        no path from it gets done, with the property and the thing; None if there is none.

        One backward pass for every (property, thing) at once: each state gets a bit mask
        of the things some path from it gets done, seeded where they are done and spread
        to predecessors through the reversed graph until nothing changes. A state gains
        each bit once, so the pass costs at most (things x transitions)."""
        bits: dict[tuple[int, Hashable], int] = {}  # (property, thing) -> its bit, in order met
        pending_mask, done_mask = [], []
        for signature in self.signatures:
            pending = done = 0
            for index, (underway, finished) in enumerate(signature):
                for thing in underway:
                    pending |= 1 << bits.setdefault((index, thing), len(bits))
                for thing in finished:
                    done |= 1 << bits.setdefault((index, thing), len(bits))
            pending_mask.append(pending)
            done_mask.append(done)
        if not any(pending_mask):
            return None
        marks = self.marks
        reach = [done_mask[mark] for mark in marks]
        starts, sources = self._reversed(len(marks))
        work = [number for number, bits_here in enumerate(reach) if bits_here]
        pop, push = work.pop, work.append
        while work:
            number = pop()
            here = reach[number]
            for before in sources[starts[number] : starts[number + 1]]:
                if here & ~reach[before]:
                    reach[before] |= here
                    push(before)
        for number, mark in enumerate(marks):
            stranded = pending_mask[mark] & ~reach[number]
            if stranded:
                lowest = (stranded & -stranded).bit_length() - 1  # the (property, thing) met first
                index, thing = next(pair for pair, bit in bits.items() if bit == lowest)
                return number, self.progress[index], thing
        return None

    def _reversed(self, size: int) -> tuple[list[int], array]:
        """The predecessors of each state: ``sources[starts[n]:starts[n + 1]]``."""
        offsets, targets = self.offsets, self.targets
        counts = [0] * (size + 1)
        for target in targets:
            counts[target + 1] += 1
        starts = list(accumulate(counts))
        sources = array("i", bytes(4 * len(targets)))
        fill = starts[:-1]
        for source in range(size):
            for target in targets[offsets[source] : offsets[source + 1]]:
                sources[fill[target]] = source
                fill[target] += 1
        return starts, sources


def _whole(check: Callable[[Any], str | None]) -> Callable[[Any, Any], str | None]:
    """An invariant without an incremental form, called as one: the whole state is checked."""
    return lambda before, after: check(after)


def _first_violation(invariants: tuple[Invariant, ...], state: Any) -> tuple[str, str] | None:
    for inv in invariants:
        message = inv.check(state)
        if message is not None:
            return inv.name, message
    return None


def rebuild_counterexample(
    spec: Spec, actions: Sequence[Any], invariant: str, message: str
) -> Counterexample:
    """The counterexample that taking ``actions`` from ``spec.init()`` makes (a random
    walk's, say): each step's events and the states described, by re-running decide and
    apply. Raises CounterexampleNotReproduced if the end state does not break ``invariant``
    (an invariant's name, or "deadlock")."""
    cx, state = _rebuild(spec, actions, invariant, message)
    why = why_not_broken(spec, invariant, state)
    if why is not None:
        raise CounterexampleNotReproduced(invariant, cx.depth, why)
    return cx


def _rebuild(spec: Spec, actions: Sequence[Any], invariant: str, message: str) -> tuple[Counterexample, Any]:
    state = spec.init()
    steps = []
    states = [spec.describe(state)]
    for action in actions:
        events = tuple(spec.decide(state, action))
        for event in events:
            state = spec.apply(state, event)
        steps.append((action, events))
        states.append(spec.describe(state))
    cx = Counterexample(
        invariant=invariant, message=message, depth=len(steps), steps=tuple(steps), states=tuple(states)
    )
    return cx, state


def replay_counterexample(spec: Spec, cx: Counterexample) -> Any:
    """Replay ``cx`` from ``spec.init()`` and return the state it ends in.

    Each action must be enabled where it is taken and decide to the recorded events, and
    the final state must break ``cx.invariant``: for a deadlock, nothing is enabled there
    and ``spec.stuck`` does not accept it; for a progress property, something pending
    there is done in no state reachable from it (a search from that state tells). A
    probing counterexample (:data:`REFUSAL`) may end with the probe itself, a step that is
    not enabled and must then break an invariant; otherwise probing its last state must
    find a request not refused. Otherwise raises
    :class:`~ybstate.errors.CounterexampleNotReproduced`.
    """
    state = spec.init()
    for number, (action, recorded) in enumerate(cx.steps, 1):
        probe = cx.invariant == REFUSAL and number == len(cx.steps)
        if action not in spec.enabled(state) and not probe:
            raise CounterexampleNotReproduced(cx.invariant, number, f"{action!r} is not enabled")
        try:
            events = tuple(spec.decide(state, action))
        except Exception as exc:
            raise CounterexampleNotReproduced(
                cx.invariant, number, f"decide rejected {action!r}: {exc}"
            ) from exc
        if events != tuple(recorded):
            raise CounterexampleNotReproduced(
                cx.invariant, number, f"decide made {events!r}, the counterexample has {recorded!r}"
            )
        for event in events:
            state = spec.apply(state, event)
    why = why_not_broken(spec, cx.invariant, state)
    if why is not None:
        raise CounterexampleNotReproduced(cx.invariant, len(cx.steps), why)
    return state


def why_not_broken(spec: Spec, name: str, state: Any) -> str | None:
    """Why the property ``name`` (an invariant's name, "deadlock", or one of
    ``spec.progress``) is not broken in ``state``, where a counterexample ends; None when
    it is broken there."""
    progress = {prop.name: prop for prop in spec.progress}
    if name == REFUSAL and spec.probes is not None:
        if spec.violations(state):  # the probe was the last step, and broke an invariant
            return None
        if Probing(spec).try_state(state, spec.enabled(state)) is None:
            return "every request not offered in the state the steps reach is refused or harmless"
        return None
    if name == DEADLOCK and spec.stuck is not None:
        if spec.enabled(state):
            return "actions are enabled in the state the steps reach"
        if spec.stuck(state) is None:
            return "the state the steps reach is a final state"
        return None
    if name in progress:
        return _progress_from(spec, progress[name], state)
    if any(v.invariant == name for v in spec.violations(state)):
        return None
    return "the invariant holds in the state the steps reach"


def _progress_from(spec: Spec, prop: Completion, state: Any) -> str | None:
    """Explore from ``state`` with each thing pending there a goal (done in some state):
    None when one of them is never reached, else why the property holds from ``state``."""
    pending = list(dict.fromkeys(prop.pending(state)))
    if not pending:
        return f"nothing is pending for {prop.name} in the state the steps reach"

    def done_with(thing: Hashable) -> Callable[[Any], bool]:
        return lambda reached: thing in set(prop.done(reached))

    goals = tuple(Goal(name=repr(thing), reached=done_with(thing)) for thing in pending)
    local = attrs.evolve(spec, init=lambda: state, invariants=(), goals=goals, stuck=None, progress=())
    reached = explore(local).coverage.goals  # type: ignore[union-attr]  # explore records coverage
    if all(goal.reached for goal in reached.values()):
        return f"from the state the steps reach, everything pending for {prop.name} can still be done"
    return None
