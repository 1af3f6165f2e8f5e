"""The kernel: the shapes every model in ybstate shares, and nothing of any one model.

- :class:`Spec`, :class:`Invariant`, :class:`Goal`, :class:`Completion`,
  :class:`Violation`, :func:`step`: one model as three pure functions and a start state,
  with what must hold, be reached and stay possible, which every driver takes;
- :class:`Lifecycle`: which event moves a thing from which phase to which, as a table
  that ``decide``, ``apply`` and a notebook all read;
- :class:`Decision`: the events of one decision that makes nested decisions, given
  ``decide`` and ``apply`` by whoever composes the model;
- :class:`Subsystem` and :class:`StateTable`: what one part of a model contributes, for a
  composition root to merge.

Pure: no I/O, no clock, no randomness. Imports nothing of ybstate but ``errors``.
"""

from ybstate.kernel.decision import Decision
from ybstate.kernel.describe import changes
from ybstate.kernel.lifecycle import Lifecycle
from ybstate.kernel.spec import Completion, Goal, Invariant, Spec, Violation, step
from ybstate.kernel.subsystem import StateTable, Subsystem

__all__ = [
    "Completion",
    "Decision",
    "Goal",
    "Invariant",
    "Lifecycle",
    "Spec",
    "StateTable",
    "Subsystem",
    "Violation",
    "step",
    "changes",
]
