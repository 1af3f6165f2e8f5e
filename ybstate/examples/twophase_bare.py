"""Two-phase commit as plain tuples: the baseline the explorer is measured against.

The same model as :mod:`ybstate.examples.twophase` (Lamport's ``TwoPhase.tla``, with the
same planted bugs), written the way one would write it without ybstate: a state is a
plain tuple ``(rm, tm, tm_prepared, msgs)``, a successor function yields the next
tuples, and a breadth-first search counts them. No attrs, no Spec, no events.

It shares no code with the Spec version on purpose: the tests compare the two, and the
benchmark times them against each other.

Pure; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

__all__ = ["BareState", "bare_bfs", "bare_consistent", "bare_init", "bare_successors"]

BareState = tuple[tuple[str, ...], str, frozenset[int], frozenset[tuple]]

_COMMIT = ("Commit",)
_ABORT = ("Abort",)


def bare_init(n: int) -> BareState:
    """Every RM working, the TM in init, nothing recorded, nothing sent."""
    return (("working",) * n, "init", frozenset(), frozenset())


def bare_consistent(state: BareState) -> bool:
    """TCConsistent: no RM committed while another aborted."""
    rm = state[0]
    return not ("committed" in rm and "aborted" in rm)


def bare_successors(state: BareState, n: int, bug: str | None = None) -> Iterator[BareState]:
    """Every state one TwoPhase step away (stuttering steps left out, as in the Spec).

    RM tuples are rebuilt by concatenation, as the Spec's reducer does, so the two pay the
    same for it (ruff prefers unpacking, which is slower).
    """
    rm, tm, tm_prepared, msgs = state
    if tm == "init":
        for r in range(n):
            if ("Prepared", r) in msgs and r not in tm_prepared:
                yield (rm, tm, tm_prepared | {r}, msgs)
        if bug == "commit_without_all_prepared" or len(tm_prepared) == n:
            yield (rm, "committed", tm_prepared, msgs | {_COMMIT})
        yield (rm, "aborted", tm_prepared, msgs | {_ABORT})
    commit_sent = _COMMIT in msgs
    abort_sent = _ABORT in msgs
    for r in range(n):
        s = rm[r]
        if s == "working":
            yield (rm[:r] + ("prepared",) + rm[r + 1 :], tm, tm_prepared, msgs | {("Prepared", r)})  # noqa: RUF005
        if s == "working" or (s == "prepared" and bug == "abort_after_prepare"):
            yield (rm[:r] + ("aborted",) + rm[r + 1 :], tm, tm_prepared, msgs)  # noqa: RUF005
        if commit_sent and s != "committed":
            yield (rm[:r] + ("committed",) + rm[r + 1 :], tm, tm_prepared, msgs)  # noqa: RUF005
        if abort_sent and s != "aborted":
            yield (rm[:r] + ("aborted",) + rm[r + 1 :], tm, tm_prepared, msgs)  # noqa: RUF005


def bare_bfs(n: int, bug: str | None = None) -> int:
    """The number of distinct states reachable with ``n`` resource managers."""
    start = bare_init(n)
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for nxt in bare_successors(state, n, bug):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return len(seen)
