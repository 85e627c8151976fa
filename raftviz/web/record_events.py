"""Socket.IO events that read the whole run: the space-time diagram and the operation history.

``spacetime`` answers a time window of the run record (raftviz/sim/record.py), so the page
fetches only what it draws and can scroll a 10-minute run; ``ophistory`` answers the client
operations with the linearizability checker's verdicts explained (raftviz/sim/ophistory.py).
Both only read: they change nothing, so they send no frames (docs/protocol.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from raftviz.service.sessions import Connection, Session
from raftviz.sim.history import MAX_TRACE_TIME
from raftviz.sim.ophistory import op_history
from raftviz.sim.record import MAX_WINDOW_MESSAGES
from raftviz.web.events import MAX_PAYLOAD, Ack, BadRequest, EventHandlers, _number, _only, ok

MAX_FILTER = 16
MAX_NAME = 32


def _names(data: dict[str, Any], name: str) -> frozenset[str] | None:
    value = data.get(name)
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_FILTER
        or not all(isinstance(v, str) and 0 < len(v) <= MAX_NAME for v in value)
    ):
        raise BadRequest(
            f"spacetime: {name} must be a list of at most {MAX_FILTER} names "
            f"(each 1..{MAX_NAME} characters)"
        )
    return frozenset(value)


class RecordEvents:
    """Installs the read-only record events on the dispatcher."""

    def __init__(self, handlers: EventHandlers) -> None:
        self.handlers = handlers

    def install(self) -> None:
        events: dict[str, Callable[[Session, Connection, Any], Ack]] = {
            "spacetime": self.spacetime,
            "ophistory": self.ophistory,
        }
        for name, handler in events.items():
            self.handlers.events[name] = (MAX_PAYLOAD, name == "ophistory", handler)

    def spacetime(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """A window of the run record: arrows crossing [start, stop] and marks inside it."""
        _only("spacetime", data, {"start", "stop", "kinds", "nodes", "limit", "message"})
        start = _number(data, "start", "spacetime")
        stop = _number(data, "stop", "spacetime")
        assert start is not None and stop is not None
        if not 0 <= start <= stop <= MAX_TRACE_TIME:
            raise BadRequest(
                f"spacetime: need 0 <= start <= stop <= {MAX_TRACE_TIME:g} ms, "
                f"got {start:g}..{stop:g}"
            )
        limit = _number(data, "limit", "spacetime", required=False)
        if limit is not None and not 1 <= limit <= MAX_WINDOW_MESSAGES:
            raise BadRequest(f"spacetime: limit must be within 1..{MAX_WINDOW_MESSAGES}")
        message = data.get("message")
        if message is not None and (
            isinstance(message, bool) or not isinstance(message, int) or message < 1
        ):
            raise BadRequest("spacetime: message must be an envelope id (a whole number >= 1)")
        kinds, nodes = _names(data, "kinds"), _names(data, "nodes")
        with session.lock:
            session.touch(self.handlers.manager.clock())
            h = session.history
            record = h.cluster.record
            if record is None:
                raise BadRequest("spacetime: this run keeps no record")
            window = record.window(
                start, stop, kinds, nodes, int(limit) if limit else MAX_WINDOW_MESSAGES
            )
            window.update(
                now=h.now,
                horizon=h.horizon,
                nodes=list(h.cluster.node_ids),
                protocol=h.config.protocol,
                messages_recorded=record.message_count,
            )
            if message is not None:
                window["message"] = record.message(message)
            return ok(**window)

    def ophistory(self, session: Session, conn: Connection, data: dict[str, Any]) -> Ack:
        """Client operations per key and client, with each linearizability violation explained."""
        _only("ophistory", data, set())
        with session.lock:
            session.touch(self.handlers.manager.clock())
            return ok(**op_history(session.history.cluster))
