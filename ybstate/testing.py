"""ybstate for users' own pytest tests (docs/library.md): check files run and asserted on,
starts built from TOML text, and the protocol as a Hypothesis state machine.

- :func:`load_check`, :func:`parse_check`, :func:`run_check`, :class:`CheckFile`,
  :class:`CheckRun`: ybstate.checks' own, re-exported;
- :func:`check_from_toml`, :func:`start_from_toml`: a check file, or a start state, from TOML
  text written in a test (dedented first, so it may be indented like the code around it);
- :func:`assert_check`: run a check and fail the test, with the verdict, why it was vacuous
  and the counterexample listing, unless it holds;
- :func:`protocol_machine`: a :class:`~hypothesis.stateful.RuleBasedStateMachine` over a
  check file's start and scope, with the check's invariants after every step and
  ``hypothesis.event`` labels for the actions taken, the goals reached and the invariants'
  subjects met (``pytest --hypothesis-show-statistics`` shows them).

Bad input is ybstate's :class:`~ybstate.errors.SpecError`, naming the file (the ``name``
given) and the key or the step. An action the model offered as enabled and then refused
is a model bug, raised as :class:`~ybstate.errors.EnabledActionFailed`.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, ClassVar

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ybstate.checks import (
    CheckFile,
    CheckRun,
    CheckSettings,
    check_spec,
    load_check,
    parse_check,
    run_check,
    run_start,
    timed_for,
)
from ybstate.cluster.state import ClusterState
from ybstate.drivers.explore import DEADLOCK, deadlock_message
from ybstate.errors import EnabledActionFailed
from ybstate.kernel import Goal, Invariant, Spec
from ybstate.model import ACTION_TAGS, MODEL, Scope
from ybstate.scenario import parse_scenario

__all__ = [
    "ADVANCING",
    "DISRUPTIVE",
    "CheckFile",
    "CheckRun",
    "ProtocolMachine",
    "assert_check",
    "check_from_toml",
    "failure_message",
    "load_check",
    "parse_check",
    "protocol_machine",
    "run_check",
    "start_from_toml",
]


def check_from_toml(text: str, name: str = "<check>") -> CheckFile:
    """The check file ``text`` holds (docs/checks.md), dedented; errors name it ``name``."""
    return parse_check(textwrap.dedent(text), name)


def start_from_toml(text: str, name: str = "<start>") -> ClusterState:
    """The state a scenario's ``[cluster]``, ``[[tenants]]`` and ``[[steps]]`` (docs/scenarios.md)
    lead to, run in memory as a check file's start is. A step the model refuses is a
    SpecError naming ``name`` and the step."""
    scenario = parse_scenario(textwrap.dedent(text), name)
    # A check of nothing but this start: run_start is the one place a start is run.
    nothing = CheckFile(
        path=name,
        start=scenario,
        scope=Scope(),
        settings=CheckSettings(),
        invariants=(),
        all_invariants=False,
        goals=(),
    )
    return run_start(nothing).state


def failure_message(run: CheckRun) -> str:
    """What a test should say about a run that did not hold: the verdict, then why it was
    vacuous (with the coverage), the bound that cut it short, or the counterexample."""
    where = "a model" if run.check is None else run.check.path
    lines = [
        f"check {where}: {run.verdict} ({run.mode}, {run.states:,} states, depth {run.depth}, "
        f"{run.seconds:.2f} s)"
    ]
    if run.counterexample is not None:
        lines.append(run.counterexample.format())
    if run.cut_by is not None:
        lines.append(f"cut short by the {run.cut_by} bound: raise it, or narrow the scope")
    if run.vacuous:
        lines.append("vacuous, it proved nothing about: " + "; ".join(run.vacuous))
        lines.append(run.coverage.format())
    return "\n".join(lines)


def assert_check(run_or_check: CheckRun | CheckFile, *, mode: str | None = None, **bounds: Any) -> CheckRun:
    """Run ``run_or_check`` if it is a check file (``mode`` and ``bounds`` as for
    :func:`run_check`), then raise AssertionError with :func:`failure_message` unless its
    verdict is "holds". Returns the run, for a test to look at its coverage."""
    if isinstance(run_or_check, CheckFile):
        run = run_check(run_or_check, mode=mode, **bounds)
    elif mode is not None or bounds:
        raise TypeError("assert_check() runs a check file with a mode or bounds, not a finished run")
    else:
        run = run_or_check
    if run.verdict != "holds":
        raise AssertionError(failure_message(run))
    return run


# -- the protocol as a Hypothesis state machine ---------------------------------------------------

ADVANCING: frozenset[str] = frozenset(
    {
        "cluster.commit",
        "dag.start_task",
        "dag.finish_task",
        "backup.advance_backup",
        "archive.read_entries",
        "archive.seal_piece",
        "archive.persist_checkpoint",
        "archive.skip_recycled_log",
        "restore.advance_restore",
        "restore.read_archived",
        "restore.rewrite_entry",
        "restore.apply_entry",
        "promote.advance_promotion",
    }
)
"""The action kinds (ACTION_TAGS tags) that advance something already running: the next
step of a transaction, a DAG task, a backup, an archiver, a restore or a promotion. Not a
start (of a new task), a fault, a cancel, a stop or a client's new write."""

DISRUPTIVE: frozenset[str] = frozenset(
    {
        "dag.fail_task",
        "backup.cancel_backup",
        "backup.drop_version",
        "archive.crash_archiver",
        "archive.stop_archive",
        "archive.recycle_log",
        "restore.stall_worker",
        "restore.cancel_restore",
        "restore.time_out_restore",
        "promote.fail_promotion_step",
        "promote.decommission",
    }
)
"""The action kinds (ACTION_TAGS tags) that fault, cancel, stop or cut short something:
always on offer while a task runs, so a choice among all a part's actions would rarely
let one finish."""

PART_OF: dict[type, str] = {kind: part.name for part in MODEL.parts for kind in part.actions}
"""The part of the model that decides each action type."""

PARTS: tuple[str, ...] = tuple(part.name for part in MODEL.parts if part.actions)
"""The parts that decide actions, in the model's order."""

ENDED = "nothing enabled: the run came to rest"


class ProtocolMachine(RuleBasedStateMachine):
    """The protocol within a check file's scope, from its start, driven by Hypothesis.

    Use :func:`protocol_machine` to make one for a check; subclass that to add rules,
    invariants or a ``teardown`` of your own (``self.state`` is the cluster's state).

    Rules: one per part of the model (``take_a_restore_action``: one of that part's enabled
    actions that is not a disruption), ``advance_running_tasks`` (a burst of up to eight
    :data:`ADVANCING` actions, invariants checked after each) and ``disrupt`` (one
    :data:`DISRUPTIVE` action: a fault, a cancel, a stop). Among the enabled actions of a
    cluster with clients, writes outnumber a protocol's own steps many times over, and
    cancels, stalls and crashes are on offer at every step while a task runs: a uniform
    choice rarely carries a restore to its end. Grouping gives each part a fair share of the
    steps and disruptions one rule's share, and the advancing rule lets tasks finish.

    No rule has a precondition that can be false: a rule whose group has nothing enabled
    takes an action of a part drawn among those that have some (else a disruption), and
    once nothing at all is enabled every rule only notes that the run came to rest.
    Hypothesis disables a random set of rules in each example (swarm testing) and throws
    the example away when every rule whose precondition holds is disabled: with one
    precondition per part (the part has an enabled action), about a third of the examples
    of specs/checks/restore_two_workers.toml were thrown away that way.

    After every step the check's invariants are checked (``spec.violations``), and a state
    with nothing enabled must be a final one (``spec.stuck``: else a deadlock). The labels
    ``action: <tag>`` (each action kind taken), ``goal: <name>`` (each goal reached) and
    ``subject met: <invariant>`` (each invariant whose subject, absent from the start, came
    to exist) go to ``hypothesis.event`` for ``--hypothesis-show-statistics``.
    """

    check: ClassVar[CheckFile]
    spec: ClassVar[Spec]
    start: ClassVar[ClusterState]

    def __init__(self) -> None:
        super().__init__()
        self.state: ClusterState = self.start
        self.path: list[object] = []  # the actions taken from the start
        self.pending_goals: list[Goal] = list(self.spec.goals)
        self.pending_subjects: list[Invariant] = [
            inv for inv in self.spec.invariants if inv.subject is not None
        ]
        self._offered_in: ClusterState | None = None
        self._offered: dict[str, tuple[object, ...]] = {}

    def offered(self, group: str = "all") -> tuple[object, ...]:
        """The actions enabled now, all of them or those of a group: "advancing"
        (:data:`ADVANCING`), "disruptive" (:data:`DISRUPTIVE`), or a part's name (its
        actions that are not disruptions)."""
        if self._offered_in is not self.state:
            actions = tuple(self.spec.enabled(self.state))
            groups: dict[str, list[object]] = {"all": list(actions), "advancing": [], "disruptive": []}
            for action in actions:
                tag = ACTION_TAGS[type(action)]
                if tag in DISRUPTIVE:
                    groups["disruptive"].append(action)
                else:
                    groups.setdefault(PART_OF[type(action)], []).append(action)
                if tag in ADVANCING:
                    groups["advancing"].append(action)
            self._offered = {name: tuple(found) for name, found in groups.items()}
            self._offered_in = self.state
        return self._offered.get(group, ())

    def take(self, action: object) -> None:
        """Decide and apply ``action``; the model refusing an action it offered is a bug."""
        stage, state = "decide", self.state
        try:
            events = self.spec.decide(state, action)
            stage = "apply"
            for new in events:
                state = self.spec.apply(state, new)
        except Exception as error:
            raise EnabledActionFailed(action, len(self.path), stage, error, tuple(self.path)) from error
        self.state = state
        self.path.append(action)
        event(f"action: {ACTION_TAGS[type(action)]}")
        self._observe()

    def _observe(self) -> None:
        for goal in [g for g in self.pending_goals if g.reached(self.state)]:
            event(f"goal: {goal.name}")
            self.pending_goals.remove(goal)
        for inv in [i for i in self.pending_subjects if i.subject is not None and i.subject(self.state)]:
            event(f"subject met: {inv.name}")
            self.pending_subjects.remove(inv)

    def _take_one_of(self, group: str, data: st.DataObject) -> None:
        """Take one enabled action of ``group``; when it has none, one of a part drawn among
        those with actions that are not disruptions, else a disruption; when nothing at all
        is enabled, only note it."""
        actions = self.offered(group)
        if not actions:
            parts = [part for part in PARTS if self.offered(part)]
            group = data.draw(st.sampled_from(parts), label="part") if parts else "disruptive"
            actions = self.offered(group)
        if not actions:
            self.no_deadlock()
            event(ENDED)
            return
        self.take(data.draw(st.sampled_from(actions), label=f"{group} action"))

    @initialize()
    def begin_at_the_start(self) -> None:
        self.state = self.start
        self.checked = None  # the last state every invariant was found to hold in
        # A subject the start already holds is met in every example: no news to label.
        self.pending_subjects = [i for i in self.pending_subjects if i.subject and not i.subject(self.start)]
        self._observe()

    @rule(data=st.data())
    def advance_running_tasks(self, data: st.DataObject) -> None:
        # A restore needs a dozen steps or more to its end: up to eight at once, every
        # invariant checked after each; the first falls back as the other rules do.
        for number in range(data.draw(st.integers(1, 8), label="burst")):
            if number and not self.offered("advancing"):
                return
            self._take_one_of("advancing", data)
            self.invariants_hold()

    @rule(data=st.data())
    def disrupt(self, data: st.DataObject) -> None:
        self._take_one_of("disruptive", data)

    @rule(data=st.data())
    def take_a_cluster_action(self, data: st.DataObject) -> None:
        self._take_one_of("cluster", data)

    @rule(data=st.data())
    def take_a_dag_action(self, data: st.DataObject) -> None:
        self._take_one_of("dag", data)

    @rule(data=st.data())
    def take_a_backup_action(self, data: st.DataObject) -> None:
        self._take_one_of("backup", data)

    @rule(data=st.data())
    def take_an_archive_action(self, data: st.DataObject) -> None:
        self._take_one_of("archive", data)

    @rule(data=st.data())
    def take_a_restore_action(self, data: st.DataObject) -> None:
        self._take_one_of("restore", data)

    @rule(data=st.data())
    def take_a_promotion_action(self, data: st.DataObject) -> None:
        self._take_one_of("promote", data)

    def no_deadlock(self) -> None:
        """Called when nothing is enabled: the state must be a final one (``spec.stuck``,
        unless the check says ``deadlock = false``)."""
        stuck = self.spec.stuck
        what = None if stuck is None else stuck(self.state)
        if what is not None:
            raise AssertionError(
                f"{DEADLOCK}: {deadlock_message(what)} (after {len(self.path)} steps from the start "
                f"of {self.check.path})"
            )

    @invariant()
    def invariants_hold(self) -> None:
        broken = self.spec.violations(self.state, self.checked)
        self.checked = self.state
        if broken:
            last = f"; the last action: {self.path[-1]!r}" if self.path else ""
            raise AssertionError(
                f"{'; '.join(map(str, broken))} (after {len(self.path)} steps from the start "
                f"of {self.check.path}{last})"
            )


def protocol_machine(check: CheckFile) -> type[ProtocolMachine]:
    """The :class:`ProtocolMachine` of ``check``: its start is run once, here (a SpecError
    if the model refuses it), and every example begins in the state it reached, with the
    check's chosen invariants and goals, timed as a simulation is (:func:`~ybstate.checks.is_timed`).
    ``protocol_machine(check).TestCase`` is a test."""
    check = timed_for(check, "simulation")
    start = run_start(check)
    words = re.findall(r"[A-Za-z0-9]+", Path(check.path).stem)
    name = "".join(word[:1].upper() + word[1:] for word in words) or "Check"

    class Machine(ProtocolMachine):
        pass

    Machine.check = check
    Machine.spec = check_spec(check, start)
    Machine.start = start.state
    Machine.__name__ = Machine.__qualname__ = f"{name}Machine"
    return Machine
