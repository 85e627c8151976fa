"""What several workers share in Redis besides sessions: who is alive, who owns a classroom,
and a channel per worker for forwarding students' events to the classroom's owner.

Keys (all expire): ``raftviz:alive:<worker>`` (a heartbeat, a few seconds),
``raftviz:seen:<worker>`` (the same heartbeat, a minute: how many workers there are),
``raftviz:class:<code>`` (hash: presenter session token, secret, owner worker) and
``raftviz:classtok:<token>`` (the code of that session's classroom), both with the session TTL.
Messages are JSON on ``raftviz:to:<worker>`` and ``raftviz:all``; a call's reply is pushed on a
one-off list the caller waits on.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import redis

PREFIX = "raftviz:"
ALIVE_TTL = 4.0  # seconds a worker counts as alive after its last heartbeat
SEEN_TTL = 60.0  # seconds a worker counts towards the deployment's size (classroom capacity)
ALL = f"{PREFIX}all"


class ClusterLink:
    def __init__(self, url: str, worker: str, ttl: float) -> None:
        self.r: redis.Redis = redis.Redis.from_url(url, decode_responses=True)
        self.r.ping()
        self.worker = worker
        self.ttl = ttl

    # ------------------------------------------------------------ workers

    def heartbeat(self) -> None:
        pipe = self.r.pipeline()
        pipe.set(f"{PREFIX}alive:{self.worker}", "1", px=int(ALIVE_TTL * 1000))
        pipe.set(f"{PREFIX}seen:{self.worker}", "1", px=int(SEEN_TTL * 1000))
        pipe.execute()

    def alive(self, worker: str) -> bool:
        return bool(self.r.exists(f"{PREFIX}alive:{worker}"))

    def workers_seen(self) -> int:
        """How many workers sent a heartbeat within SEEN_TTL (this one included): the size of
        the deployment, which a worker too busy for one heartbeat does not shrink."""
        return sum(1 for _ in self.r.scan_iter(match=f"{PREFIX}seen:*", count=1000))

    # --------------------------------------------------------- classrooms

    def register(self, code: str, token: str, secret: str) -> None:
        """This worker owns classroom ``code`` (a new one, or one it took over)."""
        ms = int(self.ttl * 1000)
        pipe = self.r.pipeline()
        pipe.hset(f"{PREFIX}class:{code}",
                  mapping={"token": token, "secret": secret, "owner": self.worker})
        pipe.pexpire(f"{PREFIX}class:{code}", ms)
        pipe.set(f"{PREFIX}classtok:{token}", code, px=ms)
        pipe.execute()

    def refresh(self, code: str, token: str) -> bool:
        """Keep an owned classroom's records alive; False when another worker owns it now."""
        key = f"{PREFIX}class:{code}"
        if self.r.hget(key, "owner") != self.worker:
            return False
        ms = int(self.ttl * 1000)
        self.r.pexpire(key, ms)
        self.r.pexpire(f"{PREFIX}classtok:{token}", ms)
        return True

    def lookup(self, code: str) -> dict[str, str] | None:
        found = {str(k): str(v) for k, v in self.r.hgetall(f"{PREFIX}class:{code}").items()}
        return found if {"token", "secret", "owner"} <= set(found) else None

    def code_of(self, token: str) -> str | None:
        code = self.r.get(f"{PREFIX}classtok:{token}")
        return code if isinstance(code, str) else None

    def unregister(self, code: str, token: str) -> None:
        self.r.delete(f"{PREFIX}class:{code}", f"{PREFIX}classtok:{token}")

    # ----------------------------------------------------------- messages

    def send(self, worker: str, message: dict[str, Any]) -> None:
        self.r.publish(f"{PREFIX}to:{worker}", json.dumps(message))

    def broadcast(self, message: dict[str, Any]) -> None:
        self.r.publish(ALL, json.dumps(message))

    def call(self, worker: str, message: dict[str, Any], timeout: float) -> Any:
        """Send and wait for the answer; None when none came within ``timeout`` seconds."""
        reply = f"{PREFIX}reply:{secrets.token_urlsafe(12)}"
        self.send(worker, {**message, "reply": reply})
        got = self.r.blpop([reply], timeout=timeout)
        return None if got is None else json.loads(got[1])

    def answer(self, reply: str, data: Any) -> None:
        if not reply.startswith(f"{PREFIX}reply:"):
            return
        pipe = self.r.pipeline()
        pipe.rpush(reply, json.dumps(data))
        pipe.expire(reply, 30)
        pipe.execute()

    def listen(self) -> Iterator[dict[str, Any]]:
        """Messages to this worker and to all, forever (reconnects are redis-py's)."""
        pubsub = self.r.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(f"{PREFIX}to:{self.worker}", ALL)
        for item in pubsub.listen():
            try:
                message = json.loads(item["data"])
            except (TypeError, ValueError):
                continue
            if isinstance(message, dict):
                yield message
