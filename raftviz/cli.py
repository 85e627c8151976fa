"""The command line: ``python -m raftviz simulate | experiment ...``.

Each subcommand is one ``add_<name>(subparsers)`` function that declares its arguments and
sets ``run`` to the function that carries it out; :data:`SUBCOMMANDS` lists them. To add a
subcommand, write such a function and append it there.

Exit codes: 0 done; 1 the engine refused something (a script command, a setting) or a file
could not be written; 2 bad arguments. Every error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, NoReturn

from raftviz.core.raft import RaftNode, RaftSettings
from raftviz.sim.engine.cluster import MAX_NODES, Cluster, ClusterConfig, CommandError, Narration
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.experiments import election_timing as experiments
from raftviz.sim.history import MAX_RUN_MS, MAX_TRACE_TIME, History

PROG = "raftviz"

Subparsers = Any  # argparse's _SubParsersAction is private; it is only passed along here


class UsageError(Exception):
    """Bad arguments found after parsing (a file that cannot be read, say): exit code 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: ``raftviz simulate: error: ...``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------------ simulate


def add_simulate(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="run a cluster and print what happened",
        description="Build a cluster, apply an optional script of commands, run it and print "
        "the narrated events and a summary (leader, term, commit indexes, invariants).",
    )
    p.add_argument("--size", type=_int_in(1, MAX_NODES), default=5, metavar="N",
                   help=f"number of servers, 1..{MAX_NODES} (default 5)")
    p.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=1, metavar="S",
                   help="random seed; the same seed and script give the same run (default 1)")
    p.add_argument("--ms", type=_float_in(0, MAX_TRACE_TIME), default=1000.0, metavar="T",
                   help="simulated milliseconds to run (default 1000)")
    p.add_argument("--script", type=Path, metavar="FILE",
                   help='JSON or YAML list of {"at": ms, "command": {...}} items, e.g. '
                   '[{"at": 500, "command": {"type": "crash", "node": "n1"}}]')
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="settings",
                   help="a protocol or network setting, e.g. --set pre_vote=true "
                   "--set election_timeout_min=300 --set latency_max=40 (repeatable)")
    p.add_argument("--trace-out", type=Path, metavar="FILE",
                   help="write the run as a trace (JSON) that the web UI can import")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(run=run_simulate)


def run_simulate(args: argparse.Namespace) -> int:
    settings, network = parse_settings(args.settings)
    config = ClusterConfig(size=args.size, seed=args.seed, settings=settings, network=network)
    if settings.election_timeout_min > settings.election_timeout_max:
        raise UsageError(
            f"election_timeout_min {settings.election_timeout_min:g} is above "
            f"election_timeout_max {settings.election_timeout_max:g}; set both"
        )
    try:
        config.validate()
    except CommandError as exc:
        raise UsageError(str(exc)) from None
    script = load_script(args.script) if args.script is not None else []
    late = [at for at, _, _ in script if at > args.ms]
    if late:
        raise UsageError(
            f"the script has a command at {late[0]:g} ms, after the end of the run "
            f"(--ms {args.ms:g}); raise --ms"
        )
    history = History(config)
    printer = _Transcript(history.cluster, quiet=args.quiet)
    for at, i, command in script:
        _run_until(history, at, printer)
        try:
            history.apply_json(command)
        except CommandError as exc:
            raise CommandError(f"script item {i} (at {at:g} ms): {exc}") from None
        printer.drain()
    _run_until(history, args.ms, printer)
    print(summary(history.cluster))
    if args.trace_out is not None:
        _write(args.trace_out, json.dumps(history.export_trace(), indent=1) + "\n")
        print(f"trace written to {args.trace_out}")
    return 0


def parse_settings(pairs: Sequence[str]) -> tuple[RaftSettings, LinkParams]:
    """``NAME=VALUE`` pairs for :class:`RaftSettings` and :class:`LinkParams` fields."""
    targets: dict[str, Any] = {"settings": RaftSettings(), "network": LinkParams()}
    owner = {f.name: key for key, obj in targets.items() for f in fields(obj)}
    changes: dict[str, dict[str, Any]] = {key: {} for key in targets}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--set takes NAME=VALUE, got {pair!r}")
        if name not in owner:
            raise UsageError(f"unknown setting {name!r}; settings are {', '.join(sorted(owner))}")
        key = owner[name]
        changes[key][name] = _setting_value(name, text.strip(), getattr(targets[key], name))
    return (
        replace(targets["settings"], **changes["settings"]),
        replace(targets["network"], **changes["network"]),
    )


def _setting_value(name: str, text: str, default: Any) -> Any:
    if isinstance(default, bool):
        words = {"true": True, "on": True, "yes": True, "1": True,
                 "false": False, "off": False, "no": False, "0": False}
        if text.lower() not in words:
            raise UsageError(f"setting {name} takes true or false, got {text!r}")
        return words[text.lower()]
    try:
        value = int(text) if isinstance(default, int) else float(text)
    except ValueError:
        kind = "a whole number" if isinstance(default, int) else "a number"
        raise UsageError(f"setting {name} takes {kind}, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise UsageError(f"setting {name} takes a finite number, got {text!r}")
    return value


def load_script(path: Path) -> list[tuple[float, int, Any]]:
    """Read a script: ``(at, item number, command)`` sorted by time (same times: file order)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read script {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # any parse error (JSON or YAML) is the file's fault
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"script {path} is not valid {path.suffix[1:] or 'JSON'}: {first}") \
            from None
    if not isinstance(data, list):
        raise UsageError(f'script {path} must be a list of {{"at": ms, "command": {{...}}}} items')
    items: list[tuple[float, int, Any]] = []
    for i, item in enumerate(data, start=1):
        if not isinstance(item, dict) or set(item) != {"at", "command"}:
            raise UsageError(
                f'script {path}, item {i}: expected {{"at": ms, "command": {{...}}}}'
            )
        at = item["at"]
        if isinstance(at, bool) or not isinstance(at, (int, float)) or not 0 <= at <= \
                MAX_TRACE_TIME:
            raise UsageError(
                f"script {path}, item {i}: at must be a time in ms within 0..{MAX_TRACE_TIME:g}"
            )
        items.append((float(at), i, item["command"]))
    items.sort(key=lambda item: item[:2])
    return items


class _Transcript:
    """Prints narrated events as the run goes (the cluster keeps only the latest ones)."""

    def __init__(self, cluster: Cluster, quiet: bool) -> None:
        self.cluster = cluster
        self.quiet = quiet
        self.seen = 0

    def drain(self) -> None:
        new: list[Narration] = []
        for n in reversed(self.cluster.narration):
            if n.seq <= self.seen:
                break
            new.append(n)
        new.reverse()
        if new and not self.quiet:
            missed = new[0].seq - self.seen - 1
            if missed > 0:
                print(f"{'':9}  ...  {missed} earlier events not shown")
            for n in new:
                print(f"{n.time:9.2f}  {n.node}  {n.text}")
        if new:
            self.seen = new[-1].seq


def _run_until(history: History, until: float, printer: _Transcript) -> None:
    # Short slices: the cluster keeps only its latest narration, so print as we go.
    slice_ms = min(100.0, MAX_RUN_MS)
    while history.now < until:
        history.run_until(min(until, history.now + slice_ms))
        printer.drain()
    printer.drain()


def summary(cluster: Cluster) -> str:
    """Leader, terms, commit indexes, invariants and linearizability, in a few lines."""
    lines = [f"--- after {cluster.now:g} ms ({cluster.events_processed} events)"]
    if cluster.leader is not None:
        lines.append(f"leader: {cluster.leader} (term {cluster.leader_term})")
    else:
        top = max((n.current_term for n in cluster.live_nodes()), default=0)
        lines.append(f"leader: none (highest live term {top})")
    states = []
    for host in cluster.hosts.values():
        node = host.node
        if node is None:
            states.append(f"{host.id}=down")
            continue
        log = f"/{node.log.last_index}" if isinstance(node, RaftNode) else ""
        paused = " paused" if host.paused else ""
        states.append(f"{host.id}={node.commit_index}{log} t{node.current_term}{paused}")
    lines.append("commit/log: " + "  ".join(states))
    status = cluster.monitor.status()
    broken = {name: s for name, s in status.items() if not s["ok"]}
    safety = {name: s for name, s in broken.items() if name != "Linearizability"}
    checked = sum(1 for name in status if name != "Linearizability")
    if safety:
        lines.append(f"invariants: {len(safety)} of {checked} VIOLATED")
        for name, s in safety.items():
            lines.append(f"  {name} ({s['count']}x): {s['first']['text'] if s['first'] else ''}")
    else:
        lines.append(f"invariants: all {checked} hold")
    m = cluster.metrics
    ops = (f"client operations: {int(m.get('ops_ok', 0))} ok, {int(m.get('ops_failed', 0))} "
           f"failed, {int(m.get('ops_unknown', 0))} unknown")
    lines.append(f"linearizability: {cluster.linearizability.status.message}; {ops}")
    lin = status.get("Linearizability")
    if lin is not None and lin["first"] is not None:
        lines.append(f"  first violation: {lin['first']['text']}")
    return "\n".join(lines)


# ---------------------------------------------------------------- experiment


def add_experiment(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "experiment",
        help="run an experiment from the Raft paper (no name: list them)",
        description="Run an experiment; without a name, list the experiments.",
    )
    p.set_defaults(run=run_list_experiments)
    names = p.add_subparsers(title="experiments", metavar="NAME", parser_class=Parser)
    for add in EXPERIMENTS.values():
        add(names)


def run_list_experiments(args: argparse.Namespace) -> int:
    print("experiments (run `python -m raftviz experiment NAME --help` for options):")
    for name, text in EXPERIMENT_HELP.items():
        print(f"  {name:18} {text}")
    return 0


def add_election_timing(names: Subparsers) -> None:
    text = EXPERIMENT_HELP["election-timing"]
    p = names.add_parser(
        "election-timing",
        help=text,
        description=f"{text[0].upper()}{text[1:]}. Five servers, logs of different lengths, "
        "heartbeat interval half the minimum election timeout, a disk write before every "
        "reply; the leader crashes at a random moment after a synchronized heartbeat. The "
        "paper preset is a LAN (0.1-0.2 ms one way, 3 ms fsync); the interactive preset is "
        "the lab page's default (10-20 ms one way, 2 ms fsync).",
    )
    p.add_argument("--preset", choices=sorted(experiments.PRESETS), default="paper",
                   help="network and disk to run on (default paper)")
    p.add_argument("--latency", type=_latency, default=None, metavar="MIN-MAX",
                   help="one-way message latency in ms, e.g. 0.1-0.2 (default: the preset's)")
    p.add_argument("--disk", type=_float_in(0, 1000), default=None, metavar="MS",
                   help="fsync time in ms before a reply, 0 for none (default: the preset's)")
    p.add_argument("--trials", type=_int_in(1, experiments.MAX_TRIALS), default=1000,
                   metavar="N", help="trials per range (default 1000)")
    p.add_argument("--ranges", type=_ranges, default=experiments.DEFAULT_RANGES,
                   metavar="LIST", help='election timeout ranges in ms, e.g. "150-150,150-300,'
                   '12-24" (default: the paper\'s ten)')
    p.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=1, metavar="S",
                   help="seed; each trial derives its own from it (default 1)")
    p.add_argument("--csv", type=Path, default=Path("out/election-timing.csv"), metavar="PATH",
                   help="one row per trial (default out/election-timing.csv)")
    p.add_argument("--plot", type=Path, default=Path("out/election-timing.png"),
                   metavar="PATH", help="CDF plot like Figure 16 (default "
                   "out/election-timing.png)")
    p.add_argument("--workers", type=_int_in(1, 64), default=os.cpu_count() or 1, metavar="K",
                   help="worker processes (default: one per CPU)")
    p.set_defaults(run=run_election_timing)


def run_election_timing(args: argparse.Namespace) -> int:
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    setup = experiments.PRESETS[args.preset].with_changes(args.latency, args.disk)
    result = experiments.election_timing(
        args.ranges, args.trials, args.seed, args.workers, progress, setup
    )
    print(
        f"Election timing (Raft paper, Figure 16): {args.trials} trials per range, seed "
        f"{args.seed}; downtime in ms from the leader's crash to a new leader "
        f"(>{experiments.NO_LEADER_LIMIT_MS:g}: none within the limit)"
    )
    print(setup.describe())
    print(experiments.format_table(result))
    print(f"{sum(len(v) for v in result.downtimes.values())} trials in "
          f"{result.wall_seconds:.1f} s on {args.workers} worker(s)")
    try:
        experiments.write_csv(result, args.csv)
        print(f"wrote {args.csv}")
        experiments.plot_cdf(result, args.plot)
        print(f"wrote {args.plot}")
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename}: {exc.strerror or exc}") from None
    return 0


EXPERIMENT_HELP = {
    "election-timing": "time to elect a new leader after a crash, per election timeout "
    "range (Raft paper, Figure 16)",
}
EXPERIMENTS: dict[str, Callable[[Subparsers], None]] = {
    "election-timing": add_election_timing,
}


# ------------------------------------------------------------------- helpers


def _int_in(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be within {low}..{high}, got {value}")
        return value

    return parse


def _float_in(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be within {low:g}..{high:g}, got {text}")
        return value

    return parse


def _ranges(text: str) -> tuple[experiments.TimeoutRange, ...]:
    try:
        return experiments.parse_ranges(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _latency(text: str) -> tuple[float, float]:
    try:
        return experiments.parse_latency(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


# ------------------------------------------------------------------- compare


def add_compare(subparsers: Subparsers) -> None:
    from raftviz.sim.experiments.compare import SCENARIOS

    listed = "; ".join(f"{name}: {s['summary']}" for name, s in SCENARIOS.items())
    p = subparsers.add_parser(
        "compare",
        help="run one scenario on Raft and on Multi-Paxos and compare them",
        description="Run a workload plus fault script against Raft and Multi-Paxos with the "
        "same seed; print messages per committed command, commit latency (median, p99) and "
        f"the time without progress after a leader crash. Built-in scenarios: {listed}. "
        "SCENARIO may also be a JSON file with the same fields (size, workload, duration, "
        "script of {at, command}).",
    )
    p.add_argument("scenario", metavar="SCENARIO", help="a built-in name or a JSON file")
    p.add_argument("--seed", type=_int_in(0, 2**63 - 1), default=1, metavar="S",
                   help="seed shared by both runs (default 1)")
    p.add_argument("--plot", type=Path, default=None, metavar="PATH",
                   help="also write bar charts of the comparison to PATH (PNG)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from raftviz.sim.experiments import compare

    scenario = compare.load_scenario(args.scenario)
    results = compare.compare(scenario, args.seed)
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        print(f"scenario {args.scenario} (seed {args.seed})")
        print(compare.format_table(results))
    if args.plot is not None:
        try:
            compare.plot(results, args.plot, f"Raft vs Multi-Paxos: {args.scenario}")
        except OSError as exc:
            raise CommandError(f"cannot write {args.plot}: {exc.strerror or exc}") from None
        print(f"plot: {args.plot}")
    return 0


# ------------------------------------------------------------------- lessons


def add_lessons(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "lessons",
        help="lesson files: `lessons check [--run] [FILES]` validates them",
        description="Work with lesson files.",
    )
    names = p.add_subparsers(title="lesson commands", metavar="NAME", parser_class=Parser)
    # Listed for --help only: main() hands `lessons check ...` to the lesson checker itself.
    names.add_parser("check", help="validate lesson files (with --run, also play them through)")
    p.set_defaults(run=lambda args: _lessons_usage(p))


def _lessons_usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


SUBCOMMANDS: list[Callable[[Subparsers], None]] = [
    add_simulate,
    add_experiment,
    add_compare,
    add_lessons,
]


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="raftviz: an interactive Raft teaching lab (deterministic simulation).",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:2] == ["lessons", "check"]:
        # The lesson checker parses its own arguments (including --help).
        from raftviz.lessons import lessons_check_main

        return lessons_check_main(words[2:])
    parser = build_parser()
    args = parser.parse_args(words)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.error("give a command, e.g. simulate or experiment")
    try:
        return run(args)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except (CommandError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
