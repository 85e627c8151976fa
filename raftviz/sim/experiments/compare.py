"""Raft and Multi-Paxos side by side: one workload and one fault script, run on both.

A scenario is data: a cluster size, a steady client workload and a list of timed commands (the
same command objects the UI sends). :func:`compare` runs it once per protocol with the same seed
and measures, for each: protocol messages per committed command, commit latency (median and
p99) and the time without progress after a leader crash. The command line and the page call
the same function.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from raftviz.core.messages import WRITE_OPS
from raftviz.sim.engine.clients import Status
from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.history import History, config_from_json

PROTOCOLS = ("raft", "paxos")
CLIENT_KINDS = frozenset({"ClientRequest", "ClientReply"})

SCENARIOS: dict[str, dict[str, Any]] = {
    "steady": {
        "summary": "5 nodes, 100 writes/s for 10 s, no faults",
        "size": 5,
        "workload": {"rate": 100, "keys": 10},
        "duration": 10_000,
        "script": [],
    },
    "leader-crash": {
        "summary": "5 nodes, 100 writes/s; the leader crashes at 4 s and restarts at 7 s",
        "size": 5,
        "workload": {"rate": 100, "keys": 10},
        "duration": 10_000,
        "script": [
            {"at": 4000, "command": {"type": "crash", "node": "$leader"}},
            {"at": 7000, "command": {"type": "restart", "node": "$crashed"}},
        ],
    },
    "partition": {
        "summary": "5 nodes, 100 writes/s; the leader is cut off with one follower at 4 s, "
        "healed at 7 s",
        "size": 5,
        "workload": {"rate": 100, "keys": 10},
        "duration": 10_000,
        "script": [
            {"at": 4000, "command": {"type": "partition", "groups": "$leader_minority"}},
            {"at": 7000, "command": {"type": "heal"}},
        ],
    },
}


@dataclass(frozen=True, slots=True)
class Result:
    """What one protocol did under a scenario."""

    protocol: str
    committed: int
    messages: int
    messages_per_command: float
    latency_median: float | None
    latency_p99: float | None
    stall_after_crash: float | None  # longest gap between committed writes after the crash
    violations: int

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def load_scenario(name_or_path: str) -> dict[str, Any]:
    """A built-in scenario by name, or a JSON file with the same fields."""
    if name_or_path in SCENARIOS:
        return SCENARIOS[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise CommandError(
            f"unknown scenario {name_or_path!r}; built in: {', '.join(SCENARIOS)}, or a JSON file"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read scenario {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CommandError(f"scenario {path} must be a JSON object")
    return data


def _resolve(value: Any, history: History, crashed: list[str]) -> Any:
    """Fill the placeholders a scenario may use: $leader, $crashed, $leader_minority."""
    cluster = history.cluster
    if value == "$leader":
        if cluster.leader is None:
            raise CommandError("the scenario needs a leader, but there is none at that moment")
        crashed.append(cluster.leader)
        return cluster.leader
    if value == "$crashed":
        if not crashed:
            raise CommandError("$crashed used before any $leader crash")
        return crashed[-1]
    if value == "$leader_minority":
        leader = cluster.leader or cluster.node_ids[0]
        others = [n for n in cluster.node_ids if n != leader]
        minority = [leader, *others[: (len(cluster.node_ids) - 1) // 2 - 1]]
        return [minority, [n for n in cluster.node_ids if n not in minority]]
    if isinstance(value, dict):
        return {k: _resolve(v, history, crashed) for k, v in value.items()}
    return value


def run_scenario(scenario: dict[str, Any], protocol: str, seed: int = 1) -> Result:
    """Run a scenario on one protocol and measure it."""
    size = scenario.get("size", 5)
    duration = float(scenario.get("duration", 10_000))
    config = config_from_json({"protocol": protocol, "size": size, "seed": seed})
    history = History(config, checkpoint_every=10_000.0, keep_history=True)
    cluster = history.cluster
    if not history.run_until_condition(lambda c: c.leader is not None, max_ms=10_000):
        raise CommandError(f"{protocol}: no leader was elected to start the scenario")
    start = history.now
    sent_before = _protocol_messages(history)
    workload = {"type": "workload", **scenario.get("workload", {"rate": 100})}
    history.apply_json(workload)
    crashed: list[str] = []
    crash_times: list[float] = []
    for step in sorted(scenario.get("script", []), key=lambda s: float(s["at"])):
        history.run_until(start + float(step["at"]))
        command = _resolve(step["command"], history, crashed)
        if command.get("type") == "crash":
            crash_times.append(history.now)
        history.apply_json(command)
    history.run_until(start + duration)
    history.apply_json({"type": "workload", "rate": 0})
    writes = [
        r
        for r in cluster.ops
        if r.status is Status.OK and r.command.op in WRITE_OPS and r.complete is not None
    ]
    latencies = sorted(r.complete - r.invoke for r in writes if r.complete is not None)
    messages = _protocol_messages(history) - sent_before
    stall = None
    if crash_times:
        # The longest stretch without a committed write, from the crash until writes flow
        # again: answers already on their way from the old leader do not count as progress.
        crash = crash_times[0]
        done = sorted(r.complete for r in writes if r.complete is not None and r.complete > crash)
        marks = [crash, *done, start + duration]
        stall = round(max(b - a for a, b in zip(marks, marks[1:], strict=False)), 3)
    return Result(
        protocol=protocol,
        committed=len(writes),
        messages=messages,
        messages_per_command=round(messages / len(writes), 2) if writes else float("nan"),
        latency_median=round(statistics.median(latencies), 3) if latencies else None,
        latency_p99=round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 3)
        if latencies
        else None,
        stall_after_crash=stall,
        violations=sum(s["count"] for s in cluster.monitor.status().values()),
    )


def _protocol_messages(history: History) -> int:
    """Messages between nodes (client requests and replies are the same for both)."""
    by_kind = history.cluster.network.sent_by_kind
    return sum(n for kind, n in by_kind.items() if kind not in CLIENT_KINDS)


def compare(scenario: dict[str, Any], seed: int = 1) -> list[Result]:
    """Run the scenario on Raft and on Multi-Paxos with the same seed."""
    return [run_scenario(scenario, protocol, seed) for protocol in PROTOCOLS]


def format_table(results: list[Result]) -> str:
    """A plain-text table of the comparison."""
    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    rows = [
        ("protocol", "committed", "msgs/command", "latency p50 ms", "p99 ms",
         "stall after crash ms", "violations")
    ]
    for r in results:
        rows.append((
            "Multi-Paxos" if r.protocol == "paxos" else "Raft",
            str(r.committed),
            cell(r.messages_per_command),
            cell(r.latency_median),
            cell(r.latency_p99),
            cell(r.stall_after_crash),
            str(r.violations),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(lines)


def plot(results: list[Result], path: Path, title: str) -> None:
    """Bar charts of the three measures, one bar per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["Multi-Paxos" if r.protocol == "paxos" else "Raft" for r in results]
    measures = [
        ("messages per committed command", [r.messages_per_command for r in results]),
        ("commit latency p50 / p99 (ms)", [r.latency_median or 0 for r in results]),
        ("time without progress after crash (ms)", [r.stall_after_crash or 0 for r in results]),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (label, values) in zip(axes, measures, strict=True):
        bars = ax.bar(names, values, color=["#3b6ea5", "#c0793a"])
        ax.set_title(label, fontsize=10)
        ax.bar_label(bars, fmt="%.1f", fontsize=9)
        if label.startswith("commit latency"):
            ax.scatter(names, [r.latency_p99 or 0 for r in results], color="black", zorder=3,
                       label="p99", marker="_", s=400)
            ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
