"""The explorer on several processes: the search :func:`~ybstate.drivers.explore.explore`
makes, with its costly part (enabled, decide, apply, the fingerprint, the invariants,
probing, coverage) done by worker processes.

Design. The search is breadth first and level synchronous, as TLC's and Stateright's
parallel checkers are; what differs is where states live. A state of the protocol costs
more to send to another process (pickling its 8 KB and back, about 0.4 ms) than to
expand, so states never move: each worker holds the states it generated, and only
fingerprints travel. One level takes two rounds:

1. *expand*: every worker expands the frontier states it holds, in the order the search
   numbered them, and answers with each one's number of actions, its successors' keys in
   action order, and whether it is a deadlock or accepts a probe it should refuse;
2. *accept*: the coordinator (the calling process) walks the whole frontier in number
   order, exactly as the one-process explorer does, and numbers each successor key it
   has not seen; the first state to reach a key in that order is its parent, and the
   worker holding that parent holds the new state. Each worker then checks the
   invariants of the states it now holds (their incremental forms, from that parent),
   counts their subjects and goals, and answers with what broke.

The coordinator keeps the visited set, the one-process explorer's
:class:`~ybstate.drivers.explore.Visited`: key -> number and, per state, its parent's
number and the index of the action among its parent's enabled actions.

So the numbering, the transitions and the explored graph are those of the one-process
search, and so are the verdict, the counterexample (the first violation in the order that
search meets them) and the progress properties' judgement. Coverage figures of a search
stopped by a violation or a bound may count the rest of that level. The frontier starts
as the start state alone: the coordinator searches on its own until a level holds
``warm_up`` states per worker, then forks the workers, which inherit that level (the
model, its closures and the states are not pickled) and take every W-th state of it.
Forking needs the ``fork`` start method: Linux and macOS, not Windows.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import sys
import time
import traceback
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import attrs

from ybstate.drivers.coverage import Observer
from ybstate.drivers.explore import (
    _CLOCK_EVERY,
    DEADLOCK,
    REFUSAL,
    Counterexample,
    Exploration,
    Probing,
    Progress,
    Visited,
    _check_bound,
    _Graph,
    _result,
    _signature,
    _whole,
    deadlock_message,
    explore,
)
from ybstate.errors import EnabledActionFailed, InvalidParameter
from ybstate.kernel import Spec

__all__ = ["WARM_UP", "explore_parallel", "explorer"]

WARM_UP = 64
"""Frontier states per worker the coordinator finds on its own before it forks the workers."""


class _Failure(Exception):
    """A model call failed in a worker: ``where`` is (frontier position, action index, stage)."""

    def __init__(self, where: tuple[int, int, str], text: str) -> None:
        super().__init__(text)
        self.where = where


class _Worker:
    """One worker's part of the search: the frontier states it holds, the successors it
    generated, and what it counted (coverage, probes)."""

    def __init__(self, spec: Spec, init: Any) -> None:
        self.spec = spec
        self.checks = tuple((inv.name, inv.since or _whole(inv.check)) for inv in spec.invariants)
        self.observer = Observer(spec.invariants, spec.goals)
        self.observer.visited(init, 0)
        self.probing = None if spec.probes is None else Probing(spec)
        self.asks = tuple((prop.pending, prop.done) for prop in spec.progress)
        self.frontier: list[Any] = [init]
        self.candidates: dict[Hashable, tuple[Any, Any]] = {}
        self.named: list[Hashable] = []
        # The explored graph needs every transition's successor; otherwise a worker names
        # each successor once: not again within a level, nor once the coordinator has seen it.
        self.every = bool(spec.progress)
        self.known: set[Hashable] = {spec.key(init)}

    def expand(self) -> list[tuple[int, list, str | None, bool]]:
        """Per frontier state: (its number of actions, (action index, successor key) of its
        successors, what is stuck there or None, whether it accepts a probe it should not)."""
        spec = self.spec
        enabled, decide, apply, key, stuck = spec.enabled, spec.decide, spec.apply, spec.key, spec.stuck
        probing, observer = self.probing, self.observer
        every, known = self.every, self.known
        candidates: dict[Hashable, tuple[Any, Any]] = {}
        named: list[Hashable] = []  # the keys answered, in order: the coordinator accepts by place
        found = []
        for position, state in enumerate(self.frontier):
            actions = enabled(state)
            what = stuck(state) if not actions and stuck is not None else None
            wrong = what is None and probing is not None and probing.try_state(state, actions) is not None
            observer.expanded(actions)
            keys = []
            for index, action in enumerate(actions):
                stage = "decide"
                try:
                    events = decide(state, action)
                    stage = "apply"
                    nxt = state
                    for event in events:
                        nxt = apply(nxt, event)
                except Exception as exc:
                    raise _Failure((position, index, stage), repr(exc)) from exc
                nxt_key = key(nxt)
                if not every and (nxt_key in known or nxt_key in candidates):
                    continue  # the coordinator has it (or has it from this level already)
                keys.append((index, nxt_key))
                named.append(nxt_key)
                if nxt_key not in candidates:
                    candidates[nxt_key] = (nxt, state)
            found.append((len(actions), keys, what, wrong))
        self.candidates = candidates
        self.named = named
        return found

    def accept(self, places: Sequence[int], depth: int) -> tuple[list, list]:
        """Hold the new states at ``places`` among the keys :meth:`expand` answered (in
        number order) as the next frontier and check them: (the first broken invariant
        of each, as (position, name, message)), their progress signatures)."""
        candidates, observer, asks, named = self.candidates, self.observer, self.asks, self.named
        frontier, broken, signatures = [], [], []
        for position, place in enumerate(places):
            state, parent = candidates[named[place]]
            frontier.append(state)
            if observer.watching:
                observer.visited(state, depth)
            if asks:
                signatures.append(_signature(asks, state))
            for name, check in self.checks:
                message = check(parent, state)
                if message is not None:
                    broken.append((position, name, message))
                    break
        self.frontier = frontier
        if not self.every:
            self.known.update(candidates)  # every key named this level is visited now
        self.candidates = {}
        self.named = []
        return broken, signatures

    def take_share(self, index: int, workers: int) -> None:
        """Keep every ``workers``-th frontier state from ``index`` on (the warm-up's level
        dealt out); a worker other than the first forgets what the warm-up counted, which
        the first one keeps."""
        self.frontier = self.frontier[index::workers]
        if index:
            self.observer = Observer(self.spec.invariants, self.spec.goals)
            self.probing = None if self.spec.probes is None else Probing(self.spec)

    def counts(self) -> tuple:
        observer, probing = self.observer, self.probing
        tried = None if probing is None else (probing.tried, probing.accepted)
        return observer.signatures, observer.subject_counts, observer.reached, tried


def _serve(worker: _Worker, index: int, workers: int, connection) -> None:
    """A worker process: take its share of the level it was forked at, then answer the
    coordinator's requests until it says stop."""
    worker.take_share(index, workers)
    while True:
        request, args = connection.recv()
        if request == "stop":
            connection.close()
            return
        try:
            connection.send(("ok", getattr(worker, request)(*args)))
        except _Failure as failure:
            connection.send(("failed", (failure.where, str(failure))))
        except BaseException:
            connection.send(("error", traceback.format_exc()))


class _Local:
    """The coordinator's own worker, during the warm-up."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.size = 1

    def ask(self, request: str, args: Sequence[tuple] | None = None) -> list:
        try:
            return [("ok", getattr(self.worker, request)(*(args[0] if args else ())))]
        except _Failure as failure:
            return [("failed", (failure.where, str(failure)))]

    def close(self) -> None:
        pass


class _Forked:
    """The worker processes, forked from the coordinator's worker at the end of the warm-up."""

    def __init__(self, worker: _Worker, workers: int) -> None:
        context = multiprocessing.get_context("fork")
        self.size = workers
        self.connections = []
        self.processes = []
        for index in range(workers):
            mine, theirs = context.Pipe()
            process = context.Process(target=_serve, args=(worker, index, workers, theirs), daemon=True)
            process.start()
            theirs.close()
            self.connections.append(mine)
            self.processes.append(process)

    def ask(self, request: str, args: Sequence[tuple] | None = None) -> list:
        for index, connection in enumerate(self.connections):
            connection.send((request, () if args is None else args[index]))
        answers = [connection.recv() for connection in self.connections]
        for index, (status, value) in enumerate(answers):
            if status == "error":
                raise RuntimeError(f"explorer worker {index} failed:\n{value}")
        return answers

    def close(self) -> None:
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.send(("stop", ()))
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
        for connection in self.connections:
            connection.close()


def explore_parallel(
    spec: Spec,
    *,
    workers: int = 2,
    max_states: int | None = None,
    max_depth: int | None = None,
    progress: Callable[[Progress], object] | None = None,
    progress_every: int = 10_000,
    max_seconds: float | None = None,
    warm_up: int = WARM_UP,
    measure_memory: bool = False,
) -> Exploration:
    """:func:`~ybstate.drivers.explore.explore` on ``workers`` processes: the same states,
    transitions, depth, verdict and counterexample. Invariants are always checked and
    coverage always kept. With ``workers=1`` the same two rounds per level run in this
    process, nothing forked (what the coordination costs, without processes); a search
    that ends within the warm-up forks nothing either.
    ``measure_memory``: as for :func:`~ybstate.drivers.explore.explore`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameter("workers", workers, "must be an int >= 1")
    _check_bound("max_states", max_states, 1)
    _check_bound("max_depth", max_depth, 0)
    _check_bound("progress_every", progress_every, 1, optional=False)
    _check_bound("warm_up", warm_up, 1, optional=False)
    if max_seconds is not None and (
        isinstance(max_seconds, bool) or not isinstance(max_seconds, int | float) or not max_seconds > 0
    ):
        raise InvalidParameter("max_seconds", max_seconds, "must be None or a number > 0")
    search = _Search(spec, workers, warm_up)
    try:
        result = search.run(max_states, max_depth, progress, progress_every, max_seconds)
    finally:
        search.pool.close()
    if not measure_memory:
        return result
    return attrs.evolve(result, visited_bytes=search.visited.bytes(search.graph))


def explorer(workers: int) -> Callable[..., Exploration]:
    """The search a command runs with ``workers`` processes: :func:`~ybstate.drivers.explore.explore`
    for one (no coordination), :func:`explore_parallel` for more."""
    return explore if workers == 1 else functools.partial(explore_parallel, workers=workers)


class _Search:
    """The coordinator: the numbering, the visited set, and the order of what it meets."""

    def __init__(self, spec: Spec, workers: int, warm_up: int) -> None:
        self.started = time.perf_counter()
        self.spec = spec
        self.workers = workers
        self.warm_up = warm_up
        init = spec.init()
        self.init = init
        self.local: _Worker | None = _Worker(spec, init)
        self.pool: _Local | _Forked = _Local(self.local)
        self.graph = _Graph(spec.progress, spec.key(init), init) if spec.progress else None
        self.visited = Visited(init, spec.key(init), None if self.graph is None else self.graph.ids)
        self.per_depth = [1]
        self.observer: Observer | None = None
        self.probing: Probing | None = None

    # The search ---------------------------------------------------------------------

    def run(self, max_states, max_depth, progress, progress_every, max_seconds) -> Exploration:
        spec, graph = self.spec, self.graph
        ids, parent, via = self.visited.ids, self.visited.parent, self.visited.via
        for inv in spec.invariants:
            message = inv.check(self.init)
            if message is not None:
                return self._violated(0, (inv.name, message), 1, 0, 0)
        deadline = None if max_seconds is None else self.started + max_seconds
        budget = sys.maxsize if max_states is None else max_states
        budget_reason = "states"
        report_at = progress_every if progress is not None else sys.maxsize
        states, transitions, depth = 1, 0, 0
        # The frontier in number order: (the state's number, its worker, its place there).
        frontier: list[tuple[int, int, int]] = [(0, 0, 0)]
        while frontier:
            if depth == max_depth:
                budget, budget_reason = states, "depth"
            answers = self.pool.ask("expand")
            for holder, (status, value) in enumerate(answers):
                if status == "failed":
                    (position, action, stage), text = value
                    number = next(n for n, w, p in frontier if (w, p) == (holder, position))
                    raise self._model_bug(number, action, stage, text, depth)
            replies = [value for _, value in answers]
            accepted: list[list[int]] = [[] for _ in range(self.pool.size)]  # places, per worker
            answered = [0] * self.pool.size  # keys met so far, per worker
            holders: list[int] = []  # the worker of each new state, by number
            found_at: list[tuple[int, int]] = []  # (frontier index, action index), by number
            before: list[tuple[int, int]] = []  # (states, transitions) before each frontier state
            met: list[tuple[tuple[int, int], str, str]] = []  # violations: (where, name, message)
            cut = None
            level = states
            for index, (number, holder, position) in enumerate(frontier):
                actions, keys, stuck, wrong = replies[holder][position]
                before.append((states, transitions))
                if stuck is not None:
                    met.append(((index, -1), DEADLOCK, deadlock_message(stuck)))
                    break
                if wrong:
                    met.append(((index, -1), REFUSAL, ""))
                    break
                if graph is not None:
                    graph.offsets.append(len(graph.targets))
                transitions += actions
                for action, key in keys:
                    place = answered[holder]
                    answered[holder] += 1
                    seen = ids.get(key)
                    if seen is not None:
                        if graph is not None:
                            graph.targets.append(seen)
                        continue
                    timed_out = (
                        deadline is not None and states % _CLOCK_EVERY == 0 and time.perf_counter() > deadline
                    )
                    if states >= budget or timed_out:
                        reason = "seconds" if timed_out and states < budget else budget_reason
                        cut = ((index, action), reason, actions - action - 1)
                        break
                    if states >= report_at:
                        report_at += progress_every
                        progress(  # type: ignore[misc]  # report_at stays maxsize without one
                            Progress(
                                states=states,
                                transitions=transitions - (actions - action - 1),
                                depth=depth + 1,
                                queue=states - level + len(frontier) - index,
                                seconds=time.perf_counter() - self.started,
                            )
                        )
                    ids[key] = states
                    parent.append(number)
                    via.append(action)
                    if graph is not None:
                        graph.targets.append(states)
                    accepted[holder].append(place)
                    holders.append(holder)
                    found_at.append((index, action))
                    states += 1
                if cut is not None:
                    break
            checked = [
                value for _, value in self.pool.ask("accept", [(places, depth + 1) for places in accepted])
            ]
            met.extend(self._broken(checked, holders, found_at))
            if graph is not None:
                self._mark(checked, holders)
            new = states - level
            if met:
                (index, action), name, message = min(met, key=lambda m: m[0])
                if cut is None or (index, action) < cut[0]:
                    where = (index, action, name, message)
                    return self._stop(frontier, before, found_at, level, depth, *where)
            if cut is not None:
                self.per_depth.append(new)
                deepest = depth + 1 if new else depth
                return self._finish(states, transitions - cut[2], deepest, cut[1], None)
            if not new:
                break
            depth += 1
            self.per_depth.append(new)
            frontier = self._next_frontier(level, holders)
        return self._judge_progress(states, transitions, depth)

    def _next_frontier(self, level: int, holders: list[int]) -> list[tuple[int, int, int]]:
        """The new level as the next frontier; the end of the warm-up when it is large enough."""
        if isinstance(self.pool, _Local) and self.workers > 1 and len(holders) >= self.warm_up * self.workers:
            self.pool = _Forked(self.local, self.workers)
            self.local = None  # the workers have its states now
            workers = self.workers
            return [(level + n, n % workers, n // workers) for n in range(len(holders))]
        places = [0] * self.pool.size
        frontier = []
        for offset, holder in enumerate(holders):
            frontier.append((level + offset, holder, places[holder]))
            places[holder] += 1
        return frontier

    def _broken(self, checked, holders, found_at) -> list[tuple[tuple[int, int], str, str]]:
        """The invariant violations the workers report, placed where the search met them."""
        numbers: list[list[int]] = [[] for _ in checked]
        for offset, holder in enumerate(holders):
            numbers[holder].append(offset)
        return [
            (found_at[numbers[holder][position]], name, message)
            for holder, (broken, _) in enumerate(checked)
            for position, name, message in broken
        ]

    def _mark(self, checked, holders) -> None:
        """Give the explored graph the new states' signatures, in number order."""
        graph = self.graph
        assert graph is not None
        places = [0] * len(checked)
        for holder in holders:
            graph.marked(checked[holder][1][places[holder]])
            places[holder] += 1

    # Endings ------------------------------------------------------------------------

    def _counts(self) -> None:
        """Merge what every worker counted into one observer and one probing tally."""
        observer = Observer(self.spec.invariants, self.spec.goals)
        tried = accepted = 0
        for _status, (signatures, subjects, reached, probes) in self.pool.ask("counts"):
            for signature, times in signatures.items():
                observer.signatures[signature] = observer.signatures.get(signature, 0) + times
            observer.subject_counts = [a + b for a, b in zip(observer.subject_counts, subjects, strict=True)]
            for name, depth in reached.items():
                observer.reached[name] = min(depth, observer.reached.get(name, depth))
            if probes is not None:
                tried, accepted = tried + probes[0], accepted + probes[1]
        observer.pending = [goal for goal in observer.goals if goal.name not in observer.reached]
        self.observer = observer
        if self.spec.probes is not None:
            self.probing = Probing(self.spec)
            self.probing.tried, self.probing.accepted = tried, accepted

    def _finish(self, states, transitions, depth, cut, cx: Counterexample | None, checked=False):
        if self.observer is None:
            self._counts()
        if self.graph is not None:
            del self.graph.marks[states:]
        return _result(
            self.spec,
            self.started,
            states,
            transitions,
            depth,
            cut,
            cx,
            self.observer,
            self.per_depth,
            self.graph,
            checked,
            self.probing,
        )

    def _stop(self, frontier, before, found_at, level, depth, index, action, name, message):
        """The first violation the one-process search would meet: at frontier state
        ``index`` itself (``action`` -1: a deadlock, a probe) or at the new state its
        action ``action`` reached; with the figures that search reports there."""
        states, transitions = before[index]
        if action < 0:
            new = states - level
            if new:
                self.per_depth.append(new)
            deepest = depth + 1 if new else depth
            return self._violated(frontier[index][0], (name, message), states, transitions, deepest)
        offset = found_at.index((index, action))
        self.per_depth.append(offset + 1)
        examined = transitions + action + 1  # that state's actions up to ``action``
        return self._violated(level + offset, (name, message), level + offset + 1, examined, depth + 1)

    def _violated(self, number: int, bad: tuple[str, str], states: int, transitions: int, depth: int):
        spec, visited = self.spec, self.visited
        if bad[0] == REFUSAL:
            _, state = visited.path(spec, number)
            found = Probing(spec).try_state(state, spec.enabled(state))
            assert found is not None, "a probe a worker found wrong is not wrong when tried again"
            cx = Probing(spec).counterexample(spec, visited, number, found)
        else:
            cx = visited.counterexample(spec, number, bad)
        return self._finish(states, transitions, depth, None, cx)

    def _judge_progress(self, states: int, transitions: int, depth: int) -> Exploration:
        graph = self.graph
        if graph is None:
            return self._finish(states, transitions, depth, None, None)
        graph.offsets.append(len(graph.targets))
        stalled = graph.stalled()
        if stalled is None:
            return self._finish(states, transitions, depth, None, None, checked=True)
        number, prop, thing = stalled
        cx = self.visited.counterexample(self.spec, number, (prop.name, prop.message.format(thing=thing)))
        return self._finish(states, transitions, depth, None, cx, checked=True)

    def _model_bug(self, number: int, index: int, stage: str, text: str, depth: int) -> EnabledActionFailed:
        actions, state = self.visited.path(self.spec, number)
        action = self.spec.enabled(state)[index]
        return EnabledActionFailed(action, depth, stage, RuntimeError(text), actions)
