"""Fuzzing the socket handlers: configurations, settings, commands, player actions and traces.

A Hypothesis state machine drives one page of a real app (Flask-SocketIO's test client, the
same handlers as a browser's events) with inputs that are valid, nearly valid and nonsense, and
checks after every call:

- no exception escapes: every event is acknowledged ``ok`` or with a specific error, never an
  "internal error";
- every call stays within its work budget (CPU time of the call);
- a refused input changes nothing (the snapshot, the history and the player), except a request
  stopped by a work guard, which stands where it got to;
- while no unsafe teaching mode was ever on, the safety monitors (Raft Figure 3, Paxos) hold.

The work budget is made small here (``FUZZ_BUDGET``) so that the heaviest configurations the
schema allows cost milliseconds, not seconds. ``bench/fuzz_long.py`` runs the same machine for
longer and prints what it tried.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from raftviz.sim import config as schema
from raftviz.sim import history as history_module
from raftviz.sim.engine.commands import COMMANDS
from raftviz.sim.engine.scheduler import WorkBudget
from raftviz.sim.snapshot import snapshot
from raftviz.web import create_app

FUZZ_BUDGET = WorkBudget(max_events_at_one_instant=2_000, max_events=20_000, max_cpu_seconds=1.0)
CPU_SLACK = 0.75  # a call's own overhead beyond its simulation work (frames, JSON, parsing)
GUARD_WORDS = ("the most one request may", "zero-time loop")
SAFE_INVARIANTS = {  # Linearizability may break with lease reads under clock faults, by design
    "Election Safety", "Log Matching", "Leader Completeness", "State Machine Safety",
    "Term Monotonic", "Chosen Once", "Learners Agree", "Promise Monotonic",
}
TEACHING = {"no_majority", "commit_old_terms", "unsafe_lease", "forgetful_acceptors",
            "ignore_promised_values"}


@dataclass
class Stats:
    """What a run tried (bench/fuzz_long.py prints it)."""

    calls: int = 0
    refused: int = 0
    guarded: int = 0
    worst_cpu: float = 0.0
    worst_call: str = ""
    events: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # by their first words


STATS = Stats()

# ------------------------------------------------------------------- strategies

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10**6, 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.lists(st.integers(0, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def often(n: int) -> st.SearchStrategy[bool]:
    """True about n times in n + 1 (drawn integers would lean to their smallest value)."""
    return st.floats(0, 1).map(lambda x: x * (n + 1) < n)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``good`` about nine times in ten, else ``bad``."""
    return often(9).flatmap(lambda yes: good if yes else bad)


def valid(spec: schema.Spec) -> st.SearchStrategy[Any]:
    if isinstance(spec, schema.Flag):
        return st.booleans()
    if isinstance(spec, schema.Choice):
        return st.sampled_from(spec.values)
    if spec.whole:
        # Small counts mostly: a size of 9 or a batch of 10 000 is as valid as 3 or 8.
        return st.integers(int(spec.low), int(min(spec.high, spec.low + 12))) | st.just(
            int(spec.high)
        )
    low, high = spec.low, spec.high
    return st.floats(low, high) | st.sampled_from([low, high, min(high, low * 2 + 1)])


def value(spec: schema.Spec) -> st.SearchStrategy[Any]:
    """Mostly valid, sometimes just outside the range, sometimes nonsense."""
    outside = (
        st.sampled_from([spec.low - 1, spec.high + 1, 0, -spec.high])
        if isinstance(spec, schema.Number) else junk
    )
    return mostly(valid(spec), outside | junk)


def section(name: str) -> st.SearchStrategy[dict[str, Any]]:
    specs = schema.SCHEMA[name]
    fuzzed = st.fixed_dictionaries({}, optional={k: value(s) for k, s in specs.items()})
    return mostly(fuzzed, st.just({"warp": 9}))


configs = st.fixed_dictionaries(
    {},
    optional={
        "size": value(schema.SCHEMA["config"]["size"]),
        "seed": value(schema.SCHEMA["config"]["seed"]),
        "protocol": value(schema.SCHEMA["config"]["protocol"]),
        "settings": section("settings"),
        "paxos": section("paxos"),
        "network": section("network"),
        "clients": section("clients"),
        "initial": st.just({"n1": {"term": 2, "log": [1, 2]}}) | junk,
    },
)

node_ids = st.sampled_from(["n1", "n2", "n3", "n5", "n9", "c1", "w1", "", "n0"])
texts = st.sampled_from(["x", "y", "1", "set", "get", "cas", "acquire", "release", "log",
                         "lease", "read_index", "follower", "fly", "a" * 70])
numbers = st.one_of(
    st.integers(-5, 2000),
    st.floats(-1, 5000, allow_nan=False),
    st.sampled_from([0, 0.5, 1, 10, 1000, 10**9]),
)


PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    "op": st.sampled_from(["set", "get", "delete", "cas", "acquire", "release"]),
    "read_mode": st.sampled_from(["log", "read_index", "lease", "follower"]),
    "key": st.sampled_from(["x", "y"]),
    "value": st.sampled_from(["1", "2"]),
    "expected": st.sampled_from(["1", "2"]),
    "node": st.sampled_from(["n1", "n2", "n3"]),
    "src": st.sampled_from(["n1", "n2", "n3"]),
    "dst": st.sampled_from(["n1", "n2", "n3"]),
    "client": st.sampled_from(["c1", "c2", "w1"]),
    "rate": st.sampled_from([0, 5, 50, 1000]),
    "id": st.integers(1, 60),
}


def _field(name: str, hint: str) -> st.SearchStrategy[Any]:
    if name in PLAUSIBLE:
        return mostly(PLAUSIBLE[name], _any_field(name, hint))
    return _any_field(name, hint)


def _any_field(name: str, hint: str) -> st.SearchStrategy[Any]:
    if name == "changes":
        return section("settings") | section("paxos")
    if name == "groups":
        return st.lists(st.lists(node_ids, max_size=4), max_size=3)
    if name == "link":
        return st.none() | st.lists(node_ids, min_size=2, max_size=2) | junk
    if "bool" in hint:
        return st.booleans() | junk
    if "float" in hint:
        return numbers | junk
    if "int" in hint:
        return st.integers(-3, 60) | junk
    if name in ("node", "src", "dst", "client"):
        return node_ids | st.none()
    return texts | st.none() | junk


@st.composite
def command_objects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(mostly(st.sampled_from(sorted(COMMANDS)), st.just("explode")))
    command: dict[str, Any] = {"type": kind}
    cls = COMMANDS.get(kind)
    if cls is not None:
        for f in fields(cls):
            if draw(often(8)):
                command[f.name] = draw(_field(f.name, str(f.type)))
    if not draw(often(20)):
        command["extra"] = 1
    return command


commands = mostly(command_objects(), junk)


players = st.one_of(
    st.fixed_dictionaries({"action": st.sampled_from(["play", "pause", "step"])}),
    st.fixed_dictionaries({"action": st.just("advance"), "ms": numbers | junk}),
    st.fixed_dictionaries({"action": st.just("seek"), "time": numbers | junk}),
    st.fixed_dictionaries({"action": st.just("speed"), "speed": st.sampled_from(
        [0.001, 0.05, 1, 0, 2, -1])}),
    st.fixed_dictionaries({
        "action": st.just("run_until"),
        "condition": st.sampled_from(["leader", "converged", "no_leader", "doom"]),
        "max_ms": numbers | st.none(),
    }),
    st.fixed_dictionaries({"action": junk}),
)


# ---------------------------------------------------------------------- machine


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class HandlersUnderFuzz(RuleBasedStateMachine):
    """One page of a real app, driven with fuzzed events through the socket handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        app, socketio = create_app(
            {"async_mode": "threading", "playback_task": False, "clock": self.clock}
        )
        self.server = app.extensions["raftviz"]
        self.client = socketio.test_client(app, auth={"session": ""})
        assert self.client.is_connected()
        self.client.get_received()
        self.unsafe = False

    @property
    def session(self) -> Any:
        (session,) = self.server.manager.sessions()
        return session

    def _state(self) -> tuple[str, str, dict[str, Any]]:
        s = self.session
        return (
            json.dumps(snapshot(s.history.cluster), sort_keys=True),
            json.dumps(s.export_trace(), sort_keys=True),
            s.player_state(),
        )

    def emit(self, event: str, payload: Any) -> dict[str, Any]:
        before = self._state()
        self.clock.now += 10.0  # no rate limiting in a fuzz run
        started = time.thread_time()
        ack = self.client.emit(event, payload, callback=True)
        used = time.thread_time() - started
        self.client.get_received()
        STATS.calls += 1
        STATS.events[event] = STATS.events.get(event, 0) + 1
        if used > STATS.worst_cpu:
            STATS.worst_cpu, STATS.worst_call = used, f"{event} {json.dumps(payload)[:160]}"
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
        assert used <= FUZZ_BUDGET.max_cpu_seconds + CPU_SLACK, (event, payload, used)
        if not ack["ok"]:
            error = ack["error"]
            assert isinstance(error, str) and error, ack
            assert "internal error" not in error, (event, payload, error)
            STATS.refused += 1
            kind = " ".join(error.split()[:4])
            STATS.errors[kind] = STATS.errors.get(kind, 0) + 1
            if any(words in error for words in GUARD_WORDS):
                STATS.guarded += 1
            elif event != "player" or payload.get("action") in ("advance", "seek", "run_until"):
                assert self._state() == before, (event, payload, error)
        return ack

    @initialize()
    def small_budgets(self) -> None:
        self._saved = (history_module.DEFAULT_BUDGET, history_module.IMPORT_BUDGET)
        history_module.DEFAULT_BUDGET = history_module.IMPORT_BUDGET = FUZZ_BUDGET
        self.session.history.budget = FUZZ_BUDGET

    def teardown(self) -> None:
        if hasattr(self, "_saved"):
            history_module.DEFAULT_BUDGET, history_module.IMPORT_BUDGET = self._saved
        self.client.disconnect()

    def _note_unsafe(self) -> None:
        self.unsafe = self.unsafe or bool(self.session.history.cluster.settings.teaching_modes())

    @rule(config=configs)
    def reset(self, config: dict[str, Any]) -> None:
        if self.emit("reset", {"config": config})["ok"]:
            self.unsafe = False
            self._note_unsafe()

    @rule(command=commands)
    def command(self, command: Any) -> None:
        self.emit("command", {"command": command})
        self._note_unsafe()

    @rule(payload=players)
    def player(self, payload: dict[str, Any]) -> None:
        self.emit("player", payload)

    @rule(real_seconds=st.floats(0.05, 0.3))
    def playback_tick(self, real_seconds: float) -> None:
        """The playback path: a tick of the background task after some real time."""
        self.clock.now += real_seconds
        started = time.thread_time()
        self.server.playback.tick()
        assert time.thread_time() - started <= FUZZ_BUDGET.max_cpu_seconds + CPU_SLACK
        self.client.get_received()

    @rule(where=st.sampled_from(["config", "commands", "end", "now", "version", "none"]),
          replacement=junk | configs)
    def trace_import(self, where: str, replacement: Any) -> None:
        trace = self.session.export_trace()
        if where == "commands" and trace["commands"]:
            trace["commands"][0]["command"] = replacement
        elif where != "none":
            trace[where] = replacement
        if self.emit("trace_import", {"trace": trace})["ok"]:
            h = self.session.history
            self.unsafe = any(
                e.command.type == "settings" and TEACHING & {
                    k for k, v in getattr(e.command, "changes", {}).items() if v}
                for e in h.log
            ) or bool(h.config.protocol_settings.teaching_modes())
            self._note_unsafe()

    @invariant()
    def safe_modes_keep_the_safety_monitors_quiet(self) -> None:
        if not hasattr(self, "_saved") or self.unsafe:
            return
        broken = [v for v in self.session.history.cluster.monitor.violations
                  if v.invariant in SAFE_INVARIANTS]
        assert not broken, broken[0].text


def test_fuzzed_events_through_the_socket_handlers() -> None:
    run = settings(
        settings(),
        max_examples=min(settings().max_examples, 20),
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.large_base_example
        ],
    )
    HandlersUnderFuzz.TestCase.settings = run
    HandlersUnderFuzz.TestCase().runTest()
