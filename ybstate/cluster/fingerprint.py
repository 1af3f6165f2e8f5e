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

import hashlib
from collections.abc import Callable, Mapping
from operator import attrgetter

import attrs

from ybstate.cluster.costs import UNTIMED
from ybstate.cluster.state import FINGERPRINT, ClusterState

_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes

__all__ = ["fingerprint", "full_fingerprint", "fingerprint_hex", "COUNTERS", "MAPS", "DIGESTS"]


def _marked(kind: str) -> tuple[str, ...]:
    return tuple(f.name for f in attrs.fields(ClusterState) if f.metadata.get(FINGERPRINT) == kind)


COUNTERS = _marked("counter")
MAPS = _marked("map")
DIGESTS = _marked("digest")

_counters = attrgetter(*COUNTERS)
_maps = attrgetter(*MAPS)
_digests = attrgetter(*DIGESTS)


_config_text: dict[int, tuple[object, str]] = {}  # id(config) -> (config, its text)
_UNTIMED_TEXT = f", costs={UNTIMED!r}"


def config_text(config: object) -> str:
    """The config's repr, as the fingerprint hashes it. An untimed cost table is left out:
    a history made before the table existed keeps the fingerprint it was stored with."""
    text = repr(config)
    if getattr(config, "costs", None) == UNTIMED:
        text = text.replace(_UNTIMED_TEXT, "", 1)
    return text


def fingerprint(state: ClusterState) -> int:
    """128-bit fingerprint: equal states have equal fingerprints, in every process.

    The digest of the text ``repr((counters, map digests, digests))``, written out here
    with the config's repr (the first counter, the same for every state of a history, and
    the longest part) kept rather than spelt out again for each state."""
    return _digest(state, tuple(part.digest for part in _maps(state)), _digests(state))


def _digest(state: ClusterState, parts: tuple, digests: object) -> int:
    """The digest of the text ``repr((counters, parts, digests))``, with the config (the
    first counter) as :func:`config_text` writes it, kept per config object."""
    counters = _counters(state)
    config = counters[0]
    known = _config_text.get(id(config))
    if known is None or known[0] is not config:
        if len(_config_text) > 64:  # configs are few; a long-lived process may make more
            _config_text.clear()
        known = _config_text[id(config)] = (config, config_text(config))
    rest = ", ".join(map(repr, counters[1:]))
    text = f"(({known[1]}, {rest}), {parts!r}, {digests!r})"
    return _from_bytes(_blake2b(text.encode(), digest_size=16).digest(), "little")


def full_fingerprint(state: ClusterState, recompute: Mapping[str, Callable[[ClusterState], int]]) -> int:
    """The fingerprint recomputed by reading every entry of every map; ``recompute`` gives,
    for each digest field, the function that recomputes it from what it digests."""
    missing = sorted(set(DIGESTS) - set(recompute))
    if missing:
        raise ValueError(f"no way to recompute the digest fields {missing}")
    parts = tuple(getattr(state, name).recomputed_digest() for name in MAPS)
    digests = tuple(recompute[name](state) for name in DIGESTS)
    # attrgetter gives a single field's value alone, several as a tuple: the same here.
    return _digest(state, parts, digests[0] if len(digests) == 1 else digests)


def fingerprint_hex(state: ClusterState) -> str:
    return f"{fingerprint(state):032x}"
