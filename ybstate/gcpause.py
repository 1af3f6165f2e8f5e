"""``paused_gc()``: pause Python's cyclic garbage collector around a long fold.

The reducer builds only acyclic, immutable values (tuples, frozen attrs instances,
persistent maps), so reference counting alone frees everything it discards and the
cyclic collector has nothing to find in it. Left running, the collector still walks
the whole live heap every so often, and that heap grows with the history: measured on
a 1M-event history, the fold took 66 s with the collector running and 26 s with it
paused, and only the paused fold keeps a flat cost per event. The previous setting is
restored on exit, whatever happens inside.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc"]


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
