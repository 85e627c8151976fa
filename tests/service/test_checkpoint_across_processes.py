"""A checkpoint stored by one process and restored in another runs on with sound monitors.

Another worker, or the same server after a restart, has other string hashes (and, before
Python 3.12, another hash of None). Log digests made before the checkpoint must still match
those made after it, or the monitors report Log Matching violations between two identical logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "b'k' * 32"
STORE = f"""
import sys
from raftviz.service.store.checkpoint import seal
from raftviz.sim.engine.cluster import Cluster, ClusterConfig
from raftviz.sim.engine.commands import apply_command, parse_command
cluster = Cluster(ClusterConfig(size=5, seed=1))
apply_command(cluster, parse_command({{"type": "workload", "rate": 100, "keys": 10}}))
cluster.run_until(600.0)
open(sys.argv[1], "wb").write(seal(cluster, {KEY}))
"""
RESTORE = f"""
import sys
from raftviz.service.store.checkpoint import unseal
cluster = unseal(open(sys.argv[1], "rb").read(), {KEY})
assert cluster is not None, "the checkpoint did not load"
cluster.run_until(1500.0)
print(sum(s["count"] for s in cluster.monitor.status().values()), cluster.network.sent)
"""


def run(code: str, blob: Path, hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code, str(blob)], env=env, cwd=ROOT,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_checkpoint_restored_in_another_process_reports_no_false_violations(
    tmp_path: Path,
) -> None:
    blob = tmp_path / "checkpoint"
    run(STORE, blob, hash_seed="1")
    violations, sent = run(RESTORE, blob, hash_seed="2").split()
    assert int(sent) > 1000  # the restored cluster really ran on, replicating entries
    assert violations == "0"
