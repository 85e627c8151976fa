"""Stored checkpoints: a whole cluster, so a rebuild replays minutes of events in milliseconds.

Replaying a loaded ten-minute run from its seed takes tens of seconds; a stored checkpoint cuts
that to unpickling the cluster plus at most a few thousand events. A pickle from an untrusted
place could run code, so a checkpoint is only ever unpickled after its HMAC-SHA256 (a key the
workers share: ``RAFTVIZ_STORE_KEY``, or a key file next to the SQLite database) and a
fingerprint of the simulation source it was made by check out. Any mismatch just means
"replay from the seed instead": a checkpoint is an optimisation, never the record.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import hmac
import io
import os
import pickle
import secrets
import sys
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from raftviz.sim.engine.cluster import NO_DATA, Cluster

KEY_ENV = "RAFTVIZ_STORE_KEY"
_NO_DATA_ID = "raftviz.NO_DATA"
PACKAGE = Path(__file__).resolve().parents[2]  # raftviz/


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    events: int
    time: float
    cursor: int
    blob: bytes  # mac (32 bytes) + fingerprint (32 bytes) + zlib(pickle)


@cache
def fingerprint() -> bytes:
    """The simulation code's identity: a checkpoint pickled by other code is not loaded."""
    digest = hashlib.sha256(sys.version.encode())
    paths = [Path(__file__).resolve()]
    for folder in ("core", "sim"):
        paths += sorted((PACKAGE / folder).rglob("*.py"))
    for path in paths:
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.digest()


def load_key(key_file: Path | None) -> bytes:
    """``RAFTVIZ_STORE_KEY`` (shared by workers), else ``key_file`` (made once, mode 0600),
    else a key of this process only (its checkpoints then serve only its own restarts...
    which they cannot: they are simply never used by anyone else)."""
    text = os.environ.get(KEY_ENV)
    if text:
        return hashlib.sha256(text.encode()).digest()
    if key_file is not None:
        try:
            return key_file.read_bytes()
        except FileNotFoundError:
            key = secrets.token_bytes(32)
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(key)
            return key
    return secrets.token_bytes(32)


@cache
def _slot_fields(cls: type) -> tuple[str, ...] | None:
    """The fields of a slotted dataclass (pickled as a plain tuple), else None."""
    if dataclasses.is_dataclass(cls) and "__slots__" in cls.__dict__:
        return tuple(f.name for f in dataclasses.fields(cls))
    return None


def _restore(cls: type, values: tuple[Any, ...]) -> Any:
    """Unpickle a slotted dataclass without the standard ``__setstate__``, which looks its
    fields up again for every object (most of the time of loading a big cluster)."""
    obj: Any = object.__new__(cls)
    for name, value in zip(_slot_fields(cls) or (), values, strict=True):
        object.__setattr__(obj, name, value)
    return obj


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> str | None:
        return _NO_DATA_ID if obj is NO_DATA else None  # a shared read-only mapping

    def reducer_override(self, obj: Any) -> Any:
        cls: type = type(obj)
        names = _slot_fields(cls)
        if names is None:
            return NotImplemented
        return _restore, (cls, tuple(getattr(obj, name) for name in names))


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid: Any) -> Any:
        if pid == _NO_DATA_ID:
            return NO_DATA
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def seal(cluster: Cluster, key: bytes) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(cluster)
    body = fingerprint() + zlib.compress(buf.getvalue(), 1)
    return hmac.new(key, body, hashlib.sha256).digest() + body


def unseal(blob: bytes, key: bytes) -> Cluster | None:
    """The cluster, or None when the blob is not ours (wrong key, other code, damaged)."""
    if len(blob) < 64:
        return None
    mac, body = blob[:32], blob[32:]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()):
        return None
    if body[:32] != fingerprint():
        return None
    # Hundreds of thousands of new objects would trigger a full collection every few
    # thousand: the collector is off while they are made (none of them is garbage).
    enabled = gc.isenabled()
    gc.disable()
    try:
        cluster = _Unpickler(io.BytesIO(zlib.decompress(body[32:]))).load()
    except Exception:  # signed by us, so only a bug gets here: fall back to replay
        return None
    finally:
        if enabled:
            gc.enable()
    return cluster if isinstance(cluster, Cluster) else None
