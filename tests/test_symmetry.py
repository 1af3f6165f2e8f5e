"""Symmetry reduction on two-phase commit: the resource managers are interchangeable, so
the explorer keyed by ``symmetric_key`` visits one state per renaming of them, and finds
the same verdicts and counterexample lengths."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ybstate.drivers.explore import explore
from ybstate.examples.twophase import BUGS, prepared_message, symmetric_key, twophase_spec


def renamed(state, order):
    """``state`` with RM ``i`` renamed ``order[i]``."""
    rm, tm, tm_prepared, msgs = state
    moved = [None] * len(rm)
    for old, new in enumerate(order):
        moved[new] = rm[old]
    rename = {prepared_message(old): prepared_message(new) for old, new in enumerate(order)}
    return (
        tuple(moved),
        tm,
        frozenset(order[i] for i in tm_prepared),
        frozenset(rename.get(m, m) for m in msgs),
    )


def reachable(n):
    spec = twophase_spec(n)
    seen, frontier = {spec.init()}, [spec.init()]
    while frontier:
        nxt = []
        for state in frontier:
            for action in spec.enabled(state):
                after = state
                for event in spec.decide(state, action):
                    after = spec.apply(after, event)
                if after not in seen:
                    seen.add(after)
                    nxt.append(after)
        frontier = nxt
    return seen


@pytest.mark.parametrize("n", [2, 3, 4])
def test_the_reduced_search_visits_exactly_one_state_per_renaming(n):
    states = reachable(n)
    orbits = {frozenset(renamed(s, order) for order in itertools.permutations(range(n))) for s in states}
    reduced = explore(twophase_spec(n, symmetry=True))
    assert reduced.distinct_states == len(orbits) < len(states)
    assert len({symmetric_key(s) for s in states}) == len(orbits)


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_renaming_the_resource_managers_keeps_the_key(data):
    states = sorted(reachable(4), key=repr)
    state = data.draw(st.sampled_from(states))
    order = data.draw(st.permutations(range(4)))
    assert symmetric_key(renamed(state, order)) == symmetric_key(state)


@pytest.mark.parametrize("bug", [None, *sorted(BUGS)])
@pytest.mark.parametrize("n", [3, 5])
def test_the_reduced_search_gives_the_same_verdict_and_counterexample_length(n, bug):
    full, reduced = explore(twophase_spec(n, bug=bug)), explore(twophase_spec(n, bug=bug, symmetry=True))
    assert reduced.verdict == full.verdict
    assert (reduced.violation is None) == (full.violation is None)
    if full.violation is not None:
        assert (reduced.violation.invariant, reduced.violation.depth) == (
            full.violation.invariant,
            full.violation.depth,
        )
    else:
        assert reduced.depth == full.depth
