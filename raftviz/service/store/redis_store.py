"""Redis session store: the same records as SQLite, so any worker can rebuild any session.

A session is a hash ``raftviz:s:<token>`` (record version, epoch, configuration, position)
and a list ``raftviz:c:<token>`` (one JSON command per item). Each write is one Lua script,
so the epoch check, the cut, the append and the new expiry happen atomically; Redis expires
both keys itself after the session TTL. Durability is Redis's own (``appendonly yes`` with
``appendfsync everysec`` is what scripts/cluster.sh runs).
"""

from __future__ import annotations

from typing import Any

import redis

from raftviz.service.store.base import (
    RECORD_VERSION,
    Fenced,
    LessonWrite,
    Position,
    SessionStore,
    StoredRun,
    StoreError,
    decode_position,
)
from raftviz.service.store.checkpoint import StoredCheckpoint, load_key

PREFIX = "raftviz:"

# KEYS: hash, list, checkpoint, journal. ARGV: epoch, config ('' = keep), keep, ttl ms,
# version, events, now, horizon, speed, drop checkpoint ('1'), lesson ('0' unchanged, '1' set,
# '2' remove), lesson header, journal keep, n, then n commands, then journal entries.
# Returns 1 (written), 0 (no such session), -1 (fenced).
WRITE = """
local cur = redis.call('HGET', KEYS[1], 'epoch')
if cur and cur ~= ARGV[1] then return -1 end
if ARGV[2] ~= '' or ARGV[10] == '1' then redis.call('DEL', KEYS[3]) end
if ARGV[2] == '' then
  if not cur then return 0 end
  local keep = tonumber(ARGV[3])
  if keep == 0 then redis.call('DEL', KEYS[2]) else redis.call('LTRIM', KEYS[2], 0, keep - 1) end
else
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'config', ARGV[2], 'version', ARGV[5], 'epoch', ARGV[1])
end
redis.call('HSET', KEYS[1], 'events', ARGV[6], 'now', ARGV[7], 'horizon', ARGV[8],
           'speed', ARGV[9])
local n = tonumber(ARGV[14])
if n > 0 then redis.call('RPUSH', KEYS[2], unpack(ARGV, 15, 14 + n)) end
redis.call('HSET', KEYS[1], 'count', redis.call('LLEN', KEYS[2]))
if ARGV[11] == '2' then
  redis.call('DEL', KEYS[4])
  redis.call('HDEL', KEYS[1], 'lesson', 'lesson_count')
elseif ARGV[11] == '1' then
  local lk = tonumber(ARGV[13])
  if lk == 0 then redis.call('DEL', KEYS[4]) else redis.call('LTRIM', KEYS[4], 0, lk - 1) end
  if #ARGV > 14 + n then redis.call('RPUSH', KEYS[4], unpack(ARGV, 15 + n)) end
  redis.call('HSET', KEYS[1], 'lesson', ARGV[12], 'lesson_count', redis.call('LLEN', KEYS[4]))
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
redis.call('PEXPIRE', KEYS[4], ARGV[4])
return 1
"""

# KEYS: hash, checkpoint. ARGV: epoch, events, time, cursor, blob. Returns -1 when fenced.
WRITE_CHECKPOINT = """
local cur = redis.call('HGET', KEYS[1], 'epoch')
if not cur then return 0 end
if cur ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[2], 'events', ARGV[2], 'time', ARGV[3], 'cursor', ARGV[4],
           'blob', ARGV[5])
redis.call('PEXPIRE', KEYS[2], redis.call('PTTL', KEYS[1]))
return 1
"""

# KEYS: hash. Returns the new epoch, or false when there is no session.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
return redis.call('HINCRBY', KEYS[1], 'epoch', 1)
"""

# KEYS: hash, list, checkpoint, journal. ARGV: epoch ('' = any).
DELETE = """
local cur = redis.call('HGET', KEYS[1], 'epoch')
if ARGV[1] ~= '' and cur and cur ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
"""

# Lua's unpack takes a few thousand arguments at most: longer appends go in chunks.
CHUNK = 2000


class RedisStore(SessionStore):
    def __init__(self, url: str) -> None:
        self.client: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        self.client.ping()  # fail at startup, not at the first command
        self.raw: redis.Redis = redis.Redis.from_url(url)  # checkpoints are bytes
        self.description = f"redis:{url.split('@')[-1]}"
        self.key = load_key(None)
        self._write = self.client.register_script(WRITE)
        self._claim = self.client.register_script(CLAIM)
        self._delete = self.client.register_script(DELETE)
        self._write_checkpoint = self.raw.register_script(WRITE_CHECKPOINT)

    @staticmethod
    def keys(token: str) -> tuple[str, str, str, str]:
        """The session's hash, its command list, its checkpoint hash and its lesson journal."""
        return (f"{PREFIX}s:{token}", f"{PREFIX}c:{token}", f"{PREFIX}k:{token}",
                f"{PREFIX}j:{token}")

    def write(
        self,
        token: str,
        epoch: int,
        *,
        config: str | None,
        keep: int,
        commands: list[str],
        position: Position,
        ttl: float,
        drop_checkpoint: bool = False,
        lesson: LessonWrite | None = None,
    ) -> bool:
        keys = self.keys(token)
        entries = [] if lesson is None else list(lesson.entries)
        sent_commands = sent_entries = 0
        first = True
        while True:
            chunk = commands[sent_commands:sent_commands + CHUNK]
            journal = entries[sent_entries:sent_entries + CHUNK]
            if lesson is None or (not first and not journal):
                mode, header, journal_keep = "0", "", 0
            else:
                mode = "2" if lesson.header is None else "1"
                header, journal_keep = lesson.header or "", lesson.keep + sent_entries
            args: list[Any] = [
                str(epoch),
                (config or "") if first else "",
                keep + sent_commands,
                max(1, int(ttl * 1000)),
                RECORD_VERSION,
                position.events,
                repr(position.now),
                repr(position.horizon),
                repr(position.speed),
                "1" if drop_checkpoint and first else "0",
                mode,
                header,
                journal_keep,
                len(chunk),
                *chunk,
                *journal,
            ]
            result = self._write(keys=keys, args=args)
            if result != 1:
                break
            first = False
            sent_commands += len(chunk)
            sent_entries += len(journal)
            if sent_commands >= len(commands) and sent_entries >= len(entries):
                break
        if result == -1:
            raise Fenced(token)
        return bool(result == 1)

    def write_checkpoint(self, token: str, epoch: int, checkpoint: StoredCheckpoint) -> None:
        hash_key, _, cp_key, _ = self.keys(token)
        cp = checkpoint
        args: list[str | int | bytes] = [str(epoch), cp.events, repr(cp.time), cp.cursor, cp.blob]
        if self._write_checkpoint(keys=[hash_key, cp_key], args=args) == -1:
            raise Fenced(token)

    def _checkpoint(self, cp_key: str) -> StoredCheckpoint | None:
        fields = self.raw.hgetall(cp_key)
        try:
            blob = fields[b"blob"]
            if isinstance(blob, bytes):
                return StoredCheckpoint(
                    int(fields[b"events"]), float(fields[b"time"]), int(fields[b"cursor"]), blob
                )
        except (KeyError, ValueError):
            pass
        return None  # none, or damaged: the rebuild replays from the seed

    def claim(self, token: str) -> StoredRun | None:
        hash_key, list_key, cp_key, journal_key = self.keys(token)
        try:
            epoch = self._claim(keys=[hash_key])
        except redis.ResponseError as exc:  # e.g. the epoch field is not a number
            raise StoreError(f"the stored session record is damaged ({exc})") from None
        if epoch is None:
            return None
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(hash_key)
        pipe.lrange(list_key, 0, -1)
        pipe.lrange(journal_key, 0, -1)
        fields, bodies, journal = pipe.execute()
        version = fields.get("version")
        try:
            version = int(version) if version is not None else None
        except ValueError:
            pass
        count = fields.get("count")
        if count is None or str(len(bodies)) != count:
            raise StoreError(
                f"the stored command log is incomplete: {len(bodies)} of {count} commands"
            )
        missing = [k for k in ("config", "events", "now", "horizon", "speed") if k not in fields]
        if missing:
            raise StoreError(f"the stored session record lacks {', '.join(missing)}")
        position = decode_position(fields["events"], fields["now"], fields["horizon"],
                                   fields["speed"])
        lesson = fields.get("lesson")
        if lesson is not None and fields.get("lesson_count") != str(len(journal)):
            raise StoreError(
                f"the stored lesson journal is incomplete: {len(journal)} of "
                f"{fields.get('lesson_count')} entries"
            )
        return StoredRun(token, int(epoch), version, fields["config"], bodies, position,
                         self._checkpoint(cp_key), lesson, tuple(journal))

    def delete(self, token: str, epoch: int | None = None) -> None:
        self._delete(keys=list(self.keys(token)), args=["" if epoch is None else str(epoch)])

    def close(self) -> None:
        self.client.close()
