"""A durable checkpoint leaves the run record out: it belongs to the live run."""

from __future__ import annotations

from raftviz.service.store.checkpoint import seal, unseal
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.history import History


def test_a_sealed_cluster_leaves_the_record_out() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    h.run_until(800)
    assert h.cluster.record is not None and h.cluster.record.message_count > 0
    restored = unseal(seal(h.cluster, b"k" * 32), b"k" * 32)
    assert restored is not None
    assert restored.record is None and restored.now == h.now
    assert h.cluster.record.message_count > 0  # the live record is untouched
