"""Snapshots for log compaction (Raft paper, section 7 and Figures 12-13).

A :class:`Snapshot` is what a server writes to stable storage when it compacts its log: the
state machine as of the last included entry, that entry's index and term (for the consistency
check of the next AppendEntries), and the latest cluster configuration in the compacted prefix.

InstallSnapshot ships a snapshot as raw bytes in chunks (Fig. 13, ``offset``/``data``/``done``),
so a snapshot also has a byte form: :func:`encode_snapshot` and :func:`decode_snapshot`. The
bytes are deterministic JSON, which keeps a run reproducible and its chunk count stable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from raftviz.core.membership import Configuration
from raftviz.core.messages import Immutable, Result
from raftviz.core.state_machine import KVImage, Lock


@dataclass(frozen=True, slots=True)
class Snapshot(Immutable):
    """A compacted prefix: state machine image plus last included index, term and configuration.

    ``configuration`` is the cluster membership as of the last included entry (Fig. 12, "last
    config"): the voters, and the old voters too when it was taken during joint consensus.
    ``digest`` is the log's chain digest at the last
    included index, kept so the safety checkers can compare a compacted prefix with other
    logs; like all digests it is bookkeeping, never protocol input.
    """

    last_included_index: int
    last_included_term: int
    configuration: Configuration
    state: KVImage
    digest: int = 0

    def describe(self) -> str:
        return f"snapshot through index {self.last_included_index} (term {self.last_included_term})"


def _result(r: Result) -> list[Any]:
    return [r.ok, r.value, r.token, r.detail]


_U64 = (1 << 64) - 1


def _signed64(value: int) -> int:
    """Back from the unsigned 64-bit form to the signed digest the log keeps."""
    return value - (1 << 64) if value >= 1 << 63 else value


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """The snapshot as the bytes InstallSnapshot carries (deterministic JSON)."""
    s = snapshot.state
    body = {
        "last_included_index": snapshot.last_included_index,
        "last_included_term": snapshot.last_included_term,
        "configuration": {
            "voters": sorted(snapshot.configuration.voters),
            "old_voters": None if snapshot.configuration.old_voters is None
            else sorted(snapshot.configuration.old_voters),
        },
        # Fixed width: a variable-length number would make the snapshot's size, its chunks and
        # so the run depend on the digest's value.
        "digest": format(snapshot.digest & _U64, "016x"),
        "data": [list(kv) for kv in s.data],
        "locks": [[k, lock.holder, lock.token, lock.expires_at] for k, lock in s.locks],
        "next_token": s.next_token,
        "sessions": [[c, rid, _result(res)] for c, rid, res in s.sessions],
        "applied": s.applied,
    }
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_snapshot(raw: bytes) -> Snapshot:
    """Rebuild a snapshot from the bytes of every chunk, in order."""
    body = json.loads(raw)
    state = KVImage(
        data=tuple((k, v) for k, v in body["data"]),
        locks=tuple((k, Lock(h, t, float(x))) for k, h, t, x in body["locks"]),
        next_token=body["next_token"],
        sessions=tuple((c, rid, Result(*res)) for c, rid, res in body["sessions"]),
        applied=body["applied"],
    )
    return Snapshot(
        body["last_included_index"],
        body["last_included_term"],
        Configuration(
            frozenset(body["configuration"]["voters"]),
            None if body["configuration"]["old_voters"] is None
            else frozenset(body["configuration"]["old_voters"]),
        ),
        state,
        _signed64(int(body["digest"], 16)),
    )
