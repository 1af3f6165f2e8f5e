"""A stable fingerprint of a cluster state, built from parts.

Every large part of the state is an :class:`~ybstate.pmap.HMap` (or a
:class:`~ybstate.pmap.PLog`) that keeps the digest of its contents up to date on each
change, so the fingerprint combines a handful of numbers and costs the same at any
history length. Which fields take part, and how, is said once, on the fields of
:class:`~ybstate.cluster.state.ClusterState` (their :data:`~ybstate.cluster.state.FINGERPRINT`
metadata), in field order. :func:`full_fingerprint` computes the same value from scratch,
reading everything, so tests can check the incremental one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter

import attrs

from ybstate.cluster.state import FINGERPRINT, ClusterState
from ybstate.hashing import digest

__all__ = ["fingerprint", "full_fingerprint", "fingerprint_hex", "COUNTERS", "MAPS", "DIGESTS"]


def _marked(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(ClusterState) if f.metadata.get(FINGERPRINT) == kind)


COUNTERS = _marked("counter")
MAPS = _marked("map")
DIGESTS = _marked("digest")

_counters = attrgetter(*COUNTERS)
_maps = attrgetter(*MAPS)
_digests = attrgetter(*DIGESTS)


def fingerprint(state: ClusterState) -> int:
    """128-bit fingerprint: equal states have equal fingerprints, in every process."""
    parts = tuple(part.digest for part in _maps(state))
    return digest((_counters(state), parts, _digests(state)))


def full_fingerprint(state: ClusterState, recompute: Mapping[str, Callable[[ClusterState], int]]) -> int:
    """The fingerprint recomputed by reading every entry of every map; ``recompute`` gives,
    for each digest field, the function that recomputes it from what it digests."""
    missing = sorted(set(DIGESTS) - set(recompute))
    if missing:
        raise ValueError(f"no way to recompute the digest fields {missing}")
    parts = tuple(getattr(state, name).recomputed_digest() for name in MAPS)
    digests = tuple(recompute[name](state) for name in DIGESTS)
    # attrgetter gives a single field's value alone, several as a tuple: the same here.
    return digest((_counters(state), parts, digests[0] if len(digests) == 1 else digests))


def fingerprint_hex(state: ClusterState) -> str:
    return f"{fingerprint(state):032x}"
