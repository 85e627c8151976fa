"""The replicated state machine: a key-value store with a lock service on top.

Every replica applies the same committed commands in the same order and so reaches the same
state. Nothing here reads a clock: lock expiry is judged from the time stamped into each log
entry by the leader that created it (interview question 1 of the curriculum), so all replicas
agree on whether a lock had expired when a command was applied.

Client sessions make retries safe: a command whose (client, request_id) was already applied
returns the remembered result instead of being applied twice (Raft paper, section 8).
"""

from __future__ import annotations

from dataclasses import dataclass

from raftviz.core.messages import Command, Immutable, LogEntry, Op, Result


@dataclass(frozen=True, slots=True)
class Lock(Immutable):
    """A granted lock: who holds it, its fencing token, and when (log time) it expires."""

    holder: str
    token: int
    expires_at: float


@dataclass(frozen=True, slots=True)
class KVImage(Immutable):
    """The state machine frozen at one applied index: what a snapshot stores (section 7).

    Client sessions are part of it: a server restored from a snapshot must still recognise a
    retry of a request applied before the snapshot, or exactly-once would break there.
    """

    data: tuple[tuple[str, str], ...] = ()
    locks: tuple[tuple[str, Lock], ...] = ()
    next_token: int = 1
    sessions: tuple[tuple[str, int, Result], ...] = ()
    applied: int = 0


OK = Result(True)  # the answer to every plain success, shared (sessions keep one per client)


class KVStateMachine:
    """Key-value store (SET, GET, DELETE, CAS) plus locks with fencing tokens."""

    __slots__ = ("data", "locks", "next_token", "sessions", "applied")

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.locks: dict[str, Lock] = {}
        self.next_token = 1
        # client -> (last request id applied, its result)
        self.sessions: dict[str, tuple[int, Result]] = {}
        self.applied = 0

    def image(self) -> KVImage:
        """A frozen copy of the whole state, for a snapshot."""
        return KVImage(
            tuple(sorted(self.data.items())),
            tuple(sorted(self.locks.items())),
            self.next_token,
            tuple((c, rid, res) for c, (rid, res) in sorted(self.sessions.items())),
            self.applied,
        )

    @classmethod
    def from_image(cls, image: KVImage) -> KVStateMachine:
        """A state machine reset to a snapshot's contents (Fig. 13, receiver 8)."""
        sm = cls()
        sm.data = dict(image.data)
        sm.locks = dict(image.locks)
        sm.next_token = image.next_token
        sm.sessions = {c: (rid, res) for c, rid, res in image.sessions}
        sm.applied = image.applied
        return sm

    def apply(self, entry: LogEntry) -> Result:
        """Apply one committed entry and return its result (idempotent per client request)."""
        self.applied += 1
        cmd = entry.command
        if cmd.client:
            seen = self.sessions.get(cmd.client)
            if seen is not None and seen[0] >= cmd.request_id:
                # A retry of a request already applied: answer as before, change nothing.
                return seen[1] if seen[0] == cmd.request_id else Result(False, detail="stale")
        result = self._execute(cmd, entry.time)
        if cmd.client and cmd.op is not Op.NOOP:
            self.sessions[cmd.client] = (cmd.request_id, result)
        return result

    def read(self, key: str) -> Result:
        """Serve a read from local state (ReadIndex, lease and follower reads)."""
        return Result(True, self.data.get(key))

    def _execute(self, cmd: Command, now: float) -> Result:
        match cmd.op:
            case Op.NOOP | Op.CONFIG:
                return OK  # a configuration entry changes the cluster, not the data
            case Op.SET:
                assert cmd.value is not None
                self.data[cmd.key] = cmd.value
                return OK
            case Op.GET:
                return Result(True, self.data.get(cmd.key))
            case Op.DELETE:
                existed = self.data.pop(cmd.key, None)
                return Result(True, existed)
            case Op.CAS:
                current = self.data.get(cmd.key)
                if current != cmd.expected:
                    return Result(False, current, detail="value differs")
                assert cmd.value is not None
                self.data[cmd.key] = cmd.value
                return Result(True, current)
            case Op.ACQUIRE:
                return self._acquire(cmd, now)
            case Op.RELEASE:
                return self._release(cmd, now)
        raise ValueError(f"unknown operation {cmd.op!r}")  # pragma: no cover

    def _acquire(self, cmd: Command, now: float) -> Result:
        lock = self.locks.get(cmd.key)
        if lock is not None and lock.expires_at > now and lock.holder != cmd.client:
            return Result(
                False,
                token=lock.token,
                detail=f"held by {lock.holder} until {lock.expires_at:g}",
            )
        if lock is not None and lock.expires_at > now and lock.holder == cmd.client:
            # Renewal by the holder keeps its token and extends the lease.
            renewed = Lock(cmd.client, lock.token, now + cmd.ttl)
            self.locks[cmd.key] = renewed
            return Result(True, token=lock.token, detail="renewed")
        token = self.next_token
        self.next_token += 1
        self.locks[cmd.key] = Lock(cmd.client, token, now + cmd.ttl)
        return Result(True, token=token, detail=f"expires at {now + cmd.ttl:g}")

    def _release(self, cmd: Command, now: float) -> Result:
        lock = self.locks.get(cmd.key)
        if lock is None or lock.holder != cmd.client or (cmd.token and lock.token != cmd.token):
            return Result(False, detail="not the holder")
        del self.locks[cmd.key]
        return Result(True, token=lock.token, detail="released")

    def lock_view(self, now: float | None = None) -> dict[str, dict[str, object]]:
        """Locks as plain data; ``now`` (log time) marks those already expired."""
        view: dict[str, dict[str, object]] = {}
        for name in sorted(self.locks):
            lock = self.locks[name]
            expired = now is not None and lock.expires_at <= now
            view[name] = {
                "holder": lock.holder,
                "token": lock.token,
                "expires_at": lock.expires_at,
                "expired": expired,
            }
        return view
