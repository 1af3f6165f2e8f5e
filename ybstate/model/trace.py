"""Trace validation: is a recorded history one that ``decide`` could have produced?

``apply`` already refuses events that cannot follow the state (wrong seq, log id, time,
phase). :func:`validate_trace` goes further: for each recorded event that opens a
decision it reconstructs the request behind it (a ``Commit`` for a COMMIT entry, a
``Write`` naming tables for a MUTATOR, ...: each subsystem declares these beside its
events), asks ``decide`` what that request produces in the state at that point, and
requires exactly the recorded events. A history written by another tool, or edited by
hand, passes only if every event is one the model itself would have made. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ybstate.cluster.state import EMPTY, ClusterState
from ybstate.errors import ActionRejected, TraceInvalid
from ybstate.model.compose import Model

__all__ = ["request_for", "validate_trace"]


def request_for(model: Model, state: ClusterState, event: object) -> object:
    """The request that, decided in ``state``, should produce ``event`` (and the events
    that follow it in the same decision)."""
    make = model.requests.get(type(event))
    if make is None:
        why = f"{type(event).__name__} does not open a decision (it only follows another event)"
        raise TraceInvalid(getattr(event, "seq", 0), why)
    return make(state, event)


def validate_trace(model: Model, events: Sequence[object], state: ClusterState = EMPTY) -> ClusterState:
    """Replay ``events``, requiring each decision to be exactly what ``decide`` makes of
    the request behind its first event.

    Returns the final state; raises :class:`~ybstate.errors.TraceInvalid` at the first
    event that is not.
    """
    events = list(events)
    position = 0
    while position < len(events):
        event = events[position]
        try:
            request = request_for(model, state, event)
        except TraceInvalid:
            raise
        except Exception as error:  # a forged event names what the state does not have
            raise TraceInvalid(
                event.seq, f"{type(event).__name__}: no request can make it: {error!r}"
            ) from None
        try:
            decided = model.decide(state, request)
        except ActionRejected as refusal:
            raise TraceInvalid(
                event.seq, f"the request behind it, {request!r}, is refused: {refusal}"
            ) from None
        recorded = events[position : position + len(decided)]
        if decided != recorded:
            seq, detail = _difference(recorded, decided)
            raise TraceInvalid(seq, f"not what decide makes of {request!r}: {detail}")
        for event in recorded:
            try:
                state = model.apply(state, event)
            except Exception as error:  # decide made it, so apply must take it: say where it did not
                raise TraceInvalid(event.seq, f"{type(event).__name__} does not apply: {error}") from None
        position += len(decided)
    return state


def _difference(recorded: list[object], decided: list[object]) -> tuple[int, str]:
    """Where a recorded decision first departs from the decided one, and how."""
    for got, want in zip(recorded, decided):
        if got == want:
            continue
        if type(got) is not type(want):
            return got.seq, f"recorded {type(got).__name__}, decided {type(want).__name__}"
        fields = [
            f"{f.name}: recorded {getattr(got, f.name)!r}, decided {getattr(want, f.name)!r}"
            for f in attrs.fields(type(got))
            if getattr(got, f.name) != getattr(want, f.name)
        ]
        return got.seq, "; ".join(fields)
    seq = recorded[-1].seq if recorded else 0
    return seq, f"the decision has {len(decided)} events, the history only {len(recorded)} from here"
