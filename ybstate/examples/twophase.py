"""Lamport's two-phase commit (``TwoPhase.tla``) as a ybstate :class:`~ybstate.kernel.Spec`.

One transaction manager (TM) and ``n`` resource managers (RMs) numbered ``0 .. n-1``.
The state holds the four variables of the TLA+ module:

* ``rm``: each RM's state, one of working, prepared, committed, aborted;
* ``tm``: the TM's state, one of init, committed, aborted;
* ``tm_prepared``: the RMs whose Prepared message the TM has received;
* ``msgs``: every message ever sent (messages are never lost or removed).

Each TLA+ action is an action class of the same name (``TMRcvPrepared``, ``TMCommit``,
``TMAbort``, ``RMPrepare``, ``RMChooseToAbort``, ``RMRcvCommitMsg``, ``RMRcvAbortMsg``);
the change it makes is one past-tense event (``TmReceivedPrepared``, ``TmCommitted``,
``TmAborted``, ``RmPrepared``, ``RmCommitted``, ``RmAborted``). The guards live in
``enabled``/``decide``; ``apply`` is the reducer and knows nothing of the guards' bugs.

One departure from the TLA+ text, which leaves the reachable states unchanged: steps that
would not change the state (TLA+ stuttering: the TM receiving a Prepared it has already
recorded, an RM receiving the decision it already holds) are not offered.

Distinct reachable states, as published for TLC: 288 for n=3, 8,832 for n=5 and 296,448
for n=7.

Planted bugs, chosen with ``twophase_spec(n, bug=...)``, each breaking TCConsistent:

* ``"commit_without_all_prepared"``: TMCommit is enabled whenever the TM is in init,
  without every RM having prepared;
* ``"abort_after_prepare"``: RMChooseToAbort is enabled for an RM that already prepared
  (it reneges on its yes vote).

Pure; no I/O. ``decide`` raises :class:`~ybstate.errors.ActionNotEnabled`, ``apply``
raises :class:`~ybstate.errors.EventOutOfOrder`, ``twophase_spec`` raises
:class:`~ybstate.errors.InvalidParameter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache

import attrs

from ybstate.errors import ActionNotEnabled, EventOutOfOrder, InvalidParameter
from ybstate.kernel import Invariant, Spec

__all__ = [
    "ABORTED",
    "BUGS",
    "COMMITTED",
    "INIT",
    "PREPARED",
    "RM_NEXT",
    "RM_RULES",
    "TM_NEXT",
    "WORKING",
    "RMChooseToAbort",
    "RMPrepare",
    "RMRcvAbortMsg",
    "RMRcvCommitMsg",
    "RmAborted",
    "RmCommitted",
    "RmPrepared",
    "RmRule",
    "TMAbort",
    "TMCommit",
    "TMRcvPrepared",
    "TmAborted",
    "TmCommitted",
    "TmReceivedPrepared",
    "TwoPhaseAction",
    "TwoPhaseEvent",
    "TwoPhaseState",
    "apply",
    "describe",
    "initial_state",
    "prepared_message",
    "tc_consistent",
    "twophase_spec",
    "type_ok",
]

WORKING = "working"
PREPARED = "prepared"
COMMITTED = "committed"
ABORTED = "aborted"
INIT = "init"

RM_STATES = frozenset({WORKING, PREPARED, COMMITTED, ABORTED})
TM_STATES = frozenset({INIT, COMMITTED, ABORTED})

BUGS = frozenset({"commit_without_all_prepared", "abort_after_prepare"})


# The state is a plain tuple ``(rm, tm, tm_prepared, msgs)`` and messages are strings, on
# purpose: the explorer builds, hashes and compares hundreds of thousands of states, and
# for plain tuples, frozensets and strings all three run in C (a string also caches its
# hash, and ``enabled`` tests message membership n + 2 times per state). Measured, a
# NamedTuple state cost ~200 ns more to build per step and a frozen attrs one ~900 ns.
# ``describe`` gives the named view for people.
TwoPhaseState = tuple[tuple[str, ...], str, frozenset[int], frozenset[str]]
"""``(rm, tm, tm_prepared, msgs)``: the four variables of TwoPhase.tla."""

COMMIT_MSG = "Commit"
ABORT_MSG = "Abort"


@cache
def prepared_message(rm: int) -> str:
    """``rm``'s Prepared message (the TLA+ record ``[type |-> "Prepared", rm |-> rm]``)."""
    return f"Prepared({rm})"


def initial_state(n: int) -> TwoPhaseState:
    """TPInit: every RM working, the TM in init, nothing recorded, nothing sent."""
    return ((WORKING,) * n, INIT, frozenset(), frozenset())


def describe(state: TwoPhaseState) -> dict[str, object]:
    """The state with its variables named, sets sorted: for people, notebooks and JSON."""
    rm, tm, tm_prepared, msgs = state
    return {"rm": list(rm), "tm": tm, "tm_prepared": sorted(tm_prepared), "msgs": sorted(msgs)}


# -- actions: what may be tried next (TLA+ action names) ---------------------------------


@attrs.frozen(kw_only=True)
class TMRcvPrepared:
    rm: int


@attrs.frozen(kw_only=True)
class TMCommit:
    pass


@attrs.frozen(kw_only=True)
class TMAbort:
    pass


@attrs.frozen(kw_only=True)
class RMPrepare:
    rm: int


@attrs.frozen(kw_only=True)
class RMChooseToAbort:
    rm: int


@attrs.frozen(kw_only=True)
class RMRcvCommitMsg:
    rm: int


@attrs.frozen(kw_only=True)
class RMRcvAbortMsg:
    rm: int


TwoPhaseAction = (
    TMRcvPrepared | TMCommit | TMAbort | RMPrepare | RMChooseToAbort | RMRcvCommitMsg | RMRcvAbortMsg
)


# -- events: what happened --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TmReceivedPrepared:
    """The TM recorded ``rm``'s Prepared message."""

    rm: int


@attrs.frozen(kw_only=True)
class TmCommitted:
    """The TM decided to commit and sent Commit."""


@attrs.frozen(kw_only=True)
class TmAborted:
    """The TM decided to abort and sent Abort."""


@attrs.frozen(kw_only=True)
class RmPrepared:
    """``rm`` voted yes and sent Prepared."""

    rm: int


@attrs.frozen(kw_only=True)
class RmCommitted:
    rm: int


@attrs.frozen(kw_only=True)
class RmAborted:
    """``rm`` aborted, by its own choice or on the TM's Abort."""

    rm: int


TwoPhaseEvent = TmReceivedPrepared | TmCommitted | TmAborted | RmPrepared | RmCommitted | RmAborted

# Which RM event may follow which RM state, and what it leads to. TwoPhase.tla guards
# RMRcvCommitMsg and RMRcvAbortMsg by the message alone, so an RM obeys whichever decision
# reaches it, even one that contradicts its own earlier abort; only the TM's single
# decision keeps the RMs consistent, and the planted bugs break exactly that.
RM_NEXT: Mapping[tuple[str, type], str] = {
    (WORKING, RmPrepared): PREPARED,
    (WORKING, RmCommitted): COMMITTED,
    (PREPARED, RmCommitted): COMMITTED,
    (ABORTED, RmCommitted): COMMITTED,
    (WORKING, RmAborted): ABORTED,
    (PREPARED, RmAborted): ABORTED,
    (COMMITTED, RmAborted): ABORTED,
}

TM_NEXT: Mapping[tuple[str, type], str] = {
    (INIT, TmCommitted): COMMITTED,
    (INIT, TmAborted): ABORTED,
}

# The TM announces its decision in a message.
_DECISION_MSG: Mapping[type, str] = {TmCommitted: COMMIT_MSG, TmAborted: ABORT_MSG}


# -- apply: the reducer ---------------------------------------------------------------------


# The reducer reads RM_NEXT through one small table per RM event type: a step then costs
# one lookup of a plain string rather than building a (state, type) key.
_RM_AFTER: Mapping[type, Mapping[str, str]] = {
    kind: {before: after for (before, k), after in RM_NEXT.items() if k is kind}
    for kind in (RmPrepared, RmCommitted, RmAborted)
}


def _rm_out_of_order(rm: tuple[str, ...], event: RmPrepared | RmCommitted | RmAborted) -> EventOutOfOrder:
    i = event.rm
    if not 0 <= i < len(rm):
        return EventOutOfOrder("an rm in", tuple(range(len(rm))), i)
    allowed = tuple(_RM_AFTER[type(event)])
    return EventOutOfOrder(f"for {type(event).__name__}, rm {i} in one of", allowed, rm[i])


def _tm_out_of_order(tm: str, event: TmCommitted | TmAborted | TmReceivedPrepared) -> EventOutOfOrder:
    return EventOutOfOrder(f"for {type(event).__name__}, the tm in state", INIT, tm)


def _apply_tm_received_prepared(state: TwoPhaseState, event: TmReceivedPrepared) -> TwoPhaseState:
    rm, tm, tm_prepared, msgs = state
    if tm != INIT:
        raise _tm_out_of_order(tm, event)
    msg = prepared_message(event.rm)
    if msg not in msgs:
        raise EventOutOfOrder("msgs holding", msg, tuple(sorted(msgs)))
    return (rm, tm, tm_prepared | {event.rm}, msgs)


def _apply_tm_decided(state: TwoPhaseState, event: TmCommitted | TmAborted) -> TwoPhaseState:
    rm, tm, tm_prepared, msgs = state
    after = TM_NEXT.get((tm, type(event)))
    if after is None:
        raise _tm_out_of_order(tm, event)
    return (rm, after, tm_prepared, msgs | {_DECISION_MSG[type(event)]})


_APPLY_TM: Mapping[type, Callable[..., TwoPhaseState]] = {
    TmReceivedPrepared: _apply_tm_received_prepared,
    TmCommitted: _apply_tm_decided,
    TmAborted: _apply_tm_decided,
}


def apply(state: TwoPhaseState, event: TwoPhaseEvent) -> TwoPhaseState:
    """Fold one event into the state; raises EventOutOfOrder if the state cannot take it.

    The three RM events share one path, read from RM_NEXT (most steps are RM steps, and
    the explorer runs this once per transition); the TM events have a handler each.
    """
    moves = _RM_AFTER.get(type(event))
    if moves is None:
        handler = _APPLY_TM.get(type(event))
        if handler is None:
            expected = tuple(t.__name__ for t in (*_RM_AFTER, *_APPLY_TM))
            raise EventOutOfOrder("an event of type", expected, event)
        return handler(state, event)
    rm, tm, tm_prepared, msgs = state
    i = event.rm  # type: ignore[union-attr]  # only RM events have moves
    try:
        after = moves[rm[i]] if i >= 0 else None
    except (IndexError, KeyError):
        after = None
    if after is None:
        raise _rm_out_of_order(rm, event)  # type: ignore[arg-type]  # an RM event, as above
    if after == PREPARED:  # only RmPrepared leads there, and the vote goes out as a message
        msgs = msgs | {prepared_message(i)}
    # Concatenation, not (*rm[:i], after, ...): it is a third faster on this hot line.
    return (rm[:i] + (after,) + rm[i + 1 :], tm, tm_prepared, msgs)  # noqa: RUF005


# -- invariants -----------------------------------------------------------------------------


def tc_consistent(state: TwoPhaseState) -> str | None:
    """TCConsistent: no RM has committed while another has aborted."""
    rm = state[0]
    if COMMITTED in rm and ABORTED in rm:
        return f"rm {rm.index(COMMITTED)} committed while rm {rm.index(ABORTED)} aborted: {rm}"
    return None


def type_ok(n: int) -> Callable[[TwoPhaseState], str | None]:
    """TypeOK for ``n`` resource managers: every variable holds a value of its type."""
    rms = frozenset(range(n))
    messages = frozenset({COMMIT_MSG, ABORT_MSG} | {prepared_message(r) for r in rms})
    rm_states_hold = RM_STATES.issuperset
    tm_states = TM_STATES

    def check(state: TwoPhaseState) -> str | None:
        # One expression on the path every state takes; the explanation only on failure.
        rm, tm, tm_prepared, msgs = state
        if (
            len(rm) == n
            and rm_states_hold(rm)
            and tm in tm_states
            and tm_prepared <= rms
            and msgs <= messages
        ):
            return None
        if len(rm) != n or not rm_states_hold(rm):
            return f"rm must be {n} of {sorted(RM_STATES)}, found {rm}"
        if tm not in TM_STATES:
            return f"tm must be one of {sorted(TM_STATES)}, found {tm!r}"
        if not tm_prepared <= rms:
            return f"tm_prepared must be a subset of 0..{n - 1}, found {sorted(tm_prepared)}"
        return f"msgs holds messages outside the protocol: {sorted(msgs - messages)}"

    return check


# -- enabled and decide ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RmRule:
    """One RM action of TwoPhase.tla: the RM states it is enabled in, the message it
    waits for (if any), and the event it makes."""

    action: type
    event: type
    rm_states: frozenset[str]
    needs: str | None = None


# The RM half of the protocol as a table: ``enabled`` and ``decide`` both read it, so they
# cannot disagree. Receiving a decision is guarded by the message alone, as in the TLA+.
RM_RULES: tuple[RmRule, ...] = (
    RmRule(action=RMPrepare, event=RmPrepared, rm_states=frozenset({WORKING})),
    RmRule(action=RMChooseToAbort, event=RmAborted, rm_states=frozenset({WORKING})),
    RmRule(
        action=RMRcvCommitMsg,
        event=RmCommitted,
        rm_states=frozenset({WORKING, PREPARED, ABORTED}),
        needs=COMMIT_MSG,
    ),
    RmRule(
        action=RMRcvAbortMsg,
        event=RmAborted,
        rm_states=frozenset({WORKING, PREPARED, COMMITTED}),
        needs=ABORT_MSG,
    ),
)


def _rm_rules(bug: str | None) -> tuple[RmRule, ...]:
    if bug != "abort_after_prepare":
        return RM_RULES
    return tuple(
        attrs.evolve(rule, rm_states=frozenset({WORKING, PREPARED}))
        if rule.action is RMChooseToAbort
        else rule
        for rule in RM_RULES
    )


@attrs.frozen(kw_only=True)
class _Protocol:
    """The guards of one configuration, with every action and event built once.

    ``enabled`` hands out the same action objects every time and ``decide`` the same event
    tuples: they are immutable, and sharing them keeps the explorer from allocating per
    transition. ``rm_enabled[(commit_sent, abort_sent)][rm_state][rm]`` is the RM actions
    enabled for that RM, precomputed from :data:`RM_RULES`.
    """

    n: int
    commit_needs_all_prepared: bool
    rm_decisions: Mapping[type, tuple[frozenset[str], str | None, tuple[tuple[TwoPhaseEvent], ...]]]
    rm_enabled: Mapping[tuple[bool, bool], Mapping[str, tuple[tuple[TwoPhaseAction, ...], ...]]]
    tm_rcv: tuple[TMRcvPrepared, ...]
    prepared_msgs: tuple[str, ...]
    tm_received: tuple[tuple[TmReceivedPrepared], ...]
    tm_commit: TMCommit = TMCommit()
    tm_abort: TMAbort = TMAbort()
    tm_committed: tuple[TmCommitted] = (TmCommitted(),)
    tm_aborted: tuple[TmAborted] = (TmAborted(),)

    @classmethod
    def build(cls, n: int, bug: str | None) -> _Protocol:
        rms = range(n)
        rules = _rm_rules(bug)
        actions = {rule.action: tuple(rule.action(rm=r) for r in rms) for rule in rules}
        rm_enabled = {}
        for commit_sent in (False, True):
            for abort_sent in (False, True):
                sent = {None, COMMIT_MSG if commit_sent else None, ABORT_MSG if abort_sent else None}
                rm_enabled[(commit_sent, abort_sent)] = {
                    s: tuple(
                        tuple(
                            actions[rule.action][r]
                            for rule in rules
                            if s in rule.rm_states and rule.needs in sent
                        )
                        for r in rms
                    )
                    for s in RM_STATES
                }
        return cls(
            n=n,
            commit_needs_all_prepared=bug != "commit_without_all_prepared",
            rm_decisions={
                rule.action: (rule.rm_states, rule.needs, tuple((rule.event(rm=r),) for r in rms))
                for rule in rules
            },
            rm_enabled=rm_enabled,
            tm_rcv=tuple(TMRcvPrepared(rm=r) for r in rms),
            prepared_msgs=tuple(prepared_message(r) for r in rms),
            tm_received=tuple((TmReceivedPrepared(rm=r),) for r in rms),
        )

    def enabled(self, state: TwoPhaseState) -> list[TwoPhaseAction]:
        rm, tm, tm_prepared, msgs = state
        actions: list[TwoPhaseAction] = []
        if tm == INIT:
            for r, msg in enumerate(self.prepared_msgs):
                if msg in msgs and r not in tm_prepared:
                    actions.append(self.tm_rcv[r])
            if not self.commit_needs_all_prepared or len(tm_prepared) == self.n:
                actions.append(self.tm_commit)
            actions.append(self.tm_abort)
        by_state = self.rm_enabled[(COMMIT_MSG in msgs, ABORT_MSG in msgs)]
        for r, s in enumerate(rm):
            actions += by_state[s][r]
        return actions

    def decide(self, state: TwoPhaseState, action: TwoPhaseAction) -> tuple[TwoPhaseEvent, ...]:
        found = self.rm_decisions.get(type(action))
        if found is None:
            handler = _DECIDE_TM.get(type(action))
            if handler is None:
                raise ActionNotEnabled(action, "it is not a TwoPhase action")
            return handler(self, state, action)
        rm_states, needs, events = found
        r = action.rm  # type: ignore[union-attr]  # only RM actions have rm_decisions
        rm, _, _, msgs = state
        try:
            s = rm[r] if r >= 0 else None
        except IndexError:
            s = None
        if s is None:
            raise ActionNotEnabled(action, f"there is no rm {r} (rms are 0..{self.n - 1})")
        if s not in rm_states:
            raise ActionNotEnabled(action, f"rm {r} is {s}, not one of {sorted(rm_states)}")
        if needs is not None and needs not in msgs:
            raise ActionNotEnabled(action, f"no {needs} message has been sent")
        return events[r]


def _decide_tm_rcv_prepared(p: _Protocol, state: TwoPhaseState, action: TMRcvPrepared):
    r = action.rm
    if not 0 <= r < p.n:
        raise ActionNotEnabled(action, f"there is no rm {r} (rms are 0..{p.n - 1})")
    _, tm, tm_prepared, msgs = state
    if tm != INIT:
        raise ActionNotEnabled(action, f"the TM is {tm}, not {INIT}")
    if p.prepared_msgs[r] not in msgs:
        raise ActionNotEnabled(action, f"rm {r} has sent no Prepared message")
    if r in tm_prepared:
        raise ActionNotEnabled(action, f"the TM has already recorded rm {r} as prepared")
    return p.tm_received[r]


def _decide_tm_commit(p: _Protocol, state: TwoPhaseState, action: TMCommit):
    _, tm, tm_prepared, _ = state
    if tm != INIT:
        raise ActionNotEnabled(action, f"the TM is {tm}, not {INIT}")
    if p.commit_needs_all_prepared and len(tm_prepared) != p.n:
        missing = sorted(frozenset(range(p.n)) - tm_prepared)
        raise ActionNotEnabled(action, f"rms {missing} have not prepared")
    return p.tm_committed


def _decide_tm_abort(p: _Protocol, state: TwoPhaseState, action: TMAbort):
    tm = state[1]
    if tm != INIT:
        raise ActionNotEnabled(action, f"the TM is {tm}, not {INIT}")
    return p.tm_aborted


_DECIDE_TM: Mapping[type, Callable[..., tuple[TwoPhaseEvent, ...]]] = {
    TMRcvPrepared: _decide_tm_rcv_prepared,
    TMCommit: _decide_tm_commit,
    TMAbort: _decide_tm_abort,
}


def _same(state: TwoPhaseState) -> TwoPhaseState:
    return state


def symmetric_key(state: TwoPhaseState) -> tuple:
    """The state up to a renaming of the resource managers (TLC's ``SYMMETRY
    Permutations(RM)``): each RM's own part (its state, whether the TM recorded its
    Prepared, whether it sent one) as a sorted list, then the TM's state and the two
    messages that are no RM's. Two states have the same key exactly when one is the
    other with the RMs renamed: every part of the state that names an RM is in that
    RM's view."""
    rm, tm, tm_prepared, msgs = state
    views = sorted((rm[i], i in tm_prepared, prepared_message(i) in msgs) for i in range(len(rm)))
    return (tuple(views), tm, COMMIT_MSG in msgs, ABORT_MSG in msgs)


def twophase_spec(
    n: int, *, bug: str | None = None, symmetry: bool = False
) -> Spec[TwoPhaseState, TwoPhaseAction, TwoPhaseEvent]:
    """TwoPhase with ``n`` resource managers, optionally with one of :data:`BUGS` planted.

    The state is its own visited-set key: a small, exact, hashable tuple. With
    ``symmetry`` the key is :func:`symmetric_key`: the resource managers are
    interchangeable (the invariants and both bugs treat them alike), so the explorer
    visits one state of each set of states that differ only in the RMs' names.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidParameter("n", n, "the number of resource managers must be an int >= 1")
    if bug is not None and bug not in BUGS:
        raise InvalidParameter("bug", bug, f"known bugs are {sorted(BUGS)}")
    protocol = _Protocol.build(n, bug)
    start = initial_state(n)
    name = f"twophase(n={n})" if bug is None else f"twophase(n={n}, bug={bug})"
    if symmetry:
        name = name[:-1] + ", symmetry)"
    return Spec(
        name=name,
        init=lambda: start,
        describe=describe,
        enabled=protocol.enabled,
        decide=protocol.decide,
        apply=apply,
        key=symmetric_key if symmetry else tuple,
        invariants=(
            Invariant(name="TypeOK", check=type_ok(n)),
            Invariant(name="TCConsistent", check=tc_consistent),
        ),
    )
