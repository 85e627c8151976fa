"""The Redis message queue between workers, sending to this worker's own sockets directly.

python-socketio's RedisManager publishes every emit, also one addressed to a socket connected
to this very worker; every worker then decodes it and looks for the socket. A session's
frames always go to its own pages, which are here, so with N workers and S playing sessions
that would be 20 x S messages a second through Redis, each decoded N times. Only emits to
rooms (a classroom's students, on any worker) and to sockets elsewhere need the queue.
"""

from __future__ import annotations

from typing import Any

import socketio


class LocalFirstRedisManager(socketio.RedisManager):  # type: ignore[misc]
    def emit(
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> Any:
        target = to or room
        if isinstance(target, str) and self.is_connected(target, namespace or "/"):
            kwargs["ignore_queue"] = True
        return super().emit(event, data, namespace=namespace, room=room, skip_sid=skip_sid,
                            callback=callback, to=to, **kwargs)
