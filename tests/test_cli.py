"""`python -m raftviz` as a user runs it: in a subprocess, reading stdout, stderr and exit codes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raftviz.sim.checks.raft_invariants import INVARIANTS
from raftviz.sim.history import History

ROOT = Path(__file__).resolve().parents[1]


def raftviz(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "raftviz", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def assert_clean_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0]


def test_simulate_prints_an_election_and_a_summary() -> None:
    proc = raftviz("simulate", "--ms", "600", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any("started an election for term 1" in line for line in lines)
    won = [line for line in lines if "won the election" in line]
    assert won
    time_text, node, text = won[0].split(maxsplit=2)
    assert float(time_text) > 0 and node.startswith("n") and text.startswith(node)
    assert f"leader: {node} (term 1)" in proc.stdout
    assert f"invariants: all {len(INVARIANTS) - 1} hold" in proc.stdout  # but Linearizability
    assert "linearizability: linearizable" in proc.stdout


def test_simulate_is_deterministic_and_quiet_prints_only_the_summary() -> None:
    a = raftviz("simulate", "--ms", "400", "--seed", "3")
    b = raftviz("simulate", "--ms", "400", "--seed", "3")
    assert a.stdout == b.stdout
    quiet = raftviz("simulate", "--ms", "400", "--seed", "3", "--quiet")
    assert quiet.stdout.startswith("--- after 400 ms")
    assert quiet.stdout in a.stdout


def test_simulate_applies_a_script_in_time_order_and_writes_a_trace(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"at": 900, "command": {"type": "client", "op": "set", "key": "x", "value": "2"}},
        {"at": 600, "command": {"type": "client", "op": "set", "key": "x", "value": "1"}},
        {"at": 700, "command": {"type": "crash", "node": "n5"}},
    ]))
    trace = tmp_path / "out" / "trace.json"
    proc = raftviz("simulate", "--ms", "1500", "--script", script, "--trace-out", trace,
                   "--set", "pre_vote=true", "--set", "latency_max=25")
    assert proc.returncode == 0, proc.stderr
    assert "n5=down" in proc.stdout
    assert "2 ok, 0 failed" in proc.stdout
    data = json.loads(trace.read_text())
    assert [c["command"]["type"] for c in data["commands"]] == ["client", "crash", "client"]
    assert data["config"]["settings"]["pre_vote"] is True
    assert data["config"]["network"]["latency_max"] == 25.0
    replayed = History.import_trace(data)
    assert replayed.now == 1500.0


def test_simulate_reads_yaml_scripts(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- at: 100\n  command: {type: partition, groups: [[n1, n2], [n3, n4, n5]]}\n")
    proc = raftviz("simulate", "--ms", "300", "--script", script, "--quiet")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["simulate", "--size", "0"], ["--size", "1..9"]),
        (["simulate", "--ms", "soon"], ["--ms", "soon"]),
        (["simulate", "--set", "warp=9"], ["unknown setting 'warp'", "pre_vote"]),
        (["simulate", "--set", "pre_vote=maybe"], ["pre_vote", "true or false"]),
        (["simulate", "--set", "election_timeout_min=900"], ["election_timeout_max"]),
        (["simulate", "--script", "/no/such/file.json"], ["cannot read script"]),
        (["teleport"], ["invalid choice", "simulate"]),
        ([], ["give a command"]),
        (["experiment", "election-timing", "--ranges", "300-150"], ["--ranges", "low <= high"]),
        (["experiment", "election-timing", "--trials", "0"], ["--trials"]),
        (["experiment", "fig99"], ["invalid choice", "election-timing"]),
        (["experiment", "election-timing", "--preset", "lan"],
         ["--preset", "invalid choice", "paper"]),
        (["experiment", "election-timing", "--latency", "5-1"], ["--latency", "MIN <= MAX"]),
        (["experiment", "election-timing", "--latency", "fast"], ["--latency", "MIN-MAX"]),
        (["experiment", "election-timing", "--disk", "-1"], ["--disk", "0..1000"]),
        (["experiment", "election-timing", "--disk", "nan"], ["--disk", "0..1000"]),
        (["experiment", "election-timing", "--disk", "slow"], ["--disk", "expected a number"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args: list[str], words: list[str]) -> None:
    assert_clean_error(raftviz(*args), 2, *words)


def test_bad_script_contents(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('[{"at": 1, ')
    assert_clean_error(raftviz("simulate", "--script", broken), 2, "not valid json")
    late = tmp_path / "late.json"
    late.write_text('[{"at": 5000, "command": {"type": "heal"}}]')
    assert_clean_error(raftviz("simulate", "--script", late), 2, "raise --ms")


def test_a_command_the_engine_refuses_exits_1(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"at": 50, "command": {"type": "crash", "node": "n9"}},
        {"at": 10, "command": {"type": "heal"}},
    ]))
    assert_clean_error(
        raftviz("simulate", "--script", script), 1, "item 1 (at 50 ms)", "n9", "n1..n5"
    )


def test_an_output_that_cannot_be_written_exits_1(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    proc = raftviz("experiment", "election-timing", "--trials", "1", "--ranges", "150-300",
                   "--workers", "1", "--csv", tmp_path / "file" / "t.csv")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("raftviz: error: cannot write")


def test_help_and_the_list_of_experiments() -> None:
    proc = raftviz("--help")
    assert proc.returncode == 0 and "simulate" in proc.stdout and "experiment" in proc.stdout
    listing = raftviz("experiment")
    assert listing.returncode == 0
    assert "election-timing" in listing.stdout


def test_experiment_writes_csv_and_plot(tmp_path: Path) -> None:
    proc = raftviz(
        "experiment", "election-timing", "--trials", "3", "--ranges", "150-300,12-24",
        "--seed", "5", "--workers", "1", "--csv", "results/t.csv", "--plot", "results/t.png",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "range 150-300 ms done" in proc.stderr
    table = proc.stdout.splitlines()
    assert any(line.startswith("150-300") and "      3" in line for line in table)
    with (tmp_path / "results" / "t.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["range_ms", "trial", "downtime_ms", "setup", "latency_ms", "fsync_ms"]
    assert "paper setup: one-way latency 0.1-0.2 ms, fsync 3 ms" in proc.stdout
    assert {tuple(r[3:]) for r in rows[1:]} == {("paper", "0.1-0.2", "3")}
    assert [(r[0], r[1]) for r in rows[1:]] == [
        (label, str(i)) for label in ("150-300", "12-24") for i in (1, 2, 3)
    ]
    assert all(float(r[2]) > 0 for r in rows[1:])
    assert (tmp_path / "results" / "t.png").read_bytes()[:4] == b"\x89PNG"


def test_experiment_setup_flags_reach_the_csv(tmp_path: Path) -> None:
    proc = raftviz(
        "experiment", "election-timing", "--trials", "2", "--ranges", "150-300",
        "--preset", "interactive", "--disk", "5", "--workers", "1", "--csv", "t.csv",
        "--plot", "t.png", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "interactive+custom setup: one-way latency 10-20 ms, fsync 5 ms" in proc.stdout
    with (tmp_path / "t.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert {tuple(r[3:]) for r in rows[1:]} == {("interactive+custom", "10-20", "5")}
    # 10-20 ms links and 5 ms fsyncs: at least 75 ms (half the timeout) + 3 trips + 2 fsyncs.
    assert all(float(r[2]) > 75 + 30 + 10 for r in rows[1:])
    proc = raftviz(
        "experiment", "election-timing", "--trials", "1", "--ranges", "150-300",
        "--latency", "0.5", "--workers", "1", "--csv", "u.csv", "--plot", "u.png", cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "paper+custom setup: one-way latency 0.5-0.5 ms, fsync 3 ms" in proc.stdout


def test_compare_prints_both_protocols_and_writes_a_plot(tmp_path: Path) -> None:
    scenario = tmp_path / "short.json"
    scenario.write_text(json.dumps({
        "size": 3, "workload": {"rate": 50, "keys": 3}, "duration": 2000,
        "script": [{"at": 800, "command": {"type": "crash", "node": "$leader"}}],
    }))
    plot = tmp_path / "cmp.png"
    proc = raftviz("compare", scenario, "--seed", "3", "--plot", plot)
    assert proc.returncode == 0, proc.stderr
    assert "Raft" in proc.stdout and "Multi-Paxos" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = raftviz("compare", scenario, "--json")
    rows = json.loads(proc.stdout)
    assert [r["protocol"] for r in rows] == ["raft", "paxos"]
    assert all(r["committed"] > 0 and r["stall_after_crash"] > 0 for r in rows)
    assert_clean_error(raftviz("compare", "no-such"), 1, "unknown scenario")


def test_lessons_check_validates_the_real_folder_and_reports_bad_files(tmp_path: Path) -> None:
    proc = raftviz("lessons", "check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 problem(s)" in proc.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: broken\ntitle: 3\n")
    proc = raftviz("lessons", "check", bad)
    assert proc.returncode == 1
    assert "bad.yaml" in proc.stdout and "Traceback" not in proc.stderr
