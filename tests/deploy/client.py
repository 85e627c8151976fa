"""A Socket.IO page without a browser: python-socketio over a real websocket.

It keeps what a page keeps (the hello, the latest full frame, every frame) and offers the
events as calls that return their acknowledgement.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import socketio


class PageClient:
    def __init__(self, url: str, token: str = "", join: str | None = None,
                 headers: dict[str, str] | None = None, name: str = "") -> None:
        self.url = url
        self.hello: dict[str, Any] = {}
        self.frames: list[dict[str, Any]] = []
        self.classes: list[dict[str, Any]] = []
        self.got = threading.Condition()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("hello", self._on_hello)
        self.sio.on("frame", self._on_frame)
        self.sio.on("class", self._on_class)
        auth: dict[str, Any] = {"join": join, "name": name} if join else {"session": token}
        self.sio.connect(url, auth=auth, transports=["websocket"], headers=headers or {},
                         wait_timeout=10)
        self.wait(lambda: bool(self.hello) and bool(self.frames), "hello and a first frame")

    def _on_hello(self, data: dict[str, Any]) -> None:
        with self.got:
            self.hello = data
            self.got.notify_all()

    def _on_frame(self, data: dict[str, Any]) -> None:
        with self.got:
            self.frames.append(data)
            self.got.notify_all()

    def _on_class(self, data: dict[str, Any]) -> None:
        with self.got:
            self.classes.append(data)
            self.got.notify_all()

    def wait(self, check: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        with self.got:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.got.wait(left)

    @property
    def token(self) -> str:
        return str(self.hello.get("session", ""))

    def call(self, event: str, data: dict[str, Any] | None = None, ok: bool = True) -> Any:
        ack = self.sio.call(event, data if data is not None else {}, timeout=30)
        if ok:
            assert isinstance(ack, dict) and ack.get("ok") is True, (event, data, ack)
        return ack

    def command(self, **command: Any) -> Any:
        return self.call("command", {"command": command})

    def player(self, **payload: Any) -> Any:
        return self.call("player", payload)

    def full_frame(self) -> dict[str, Any]:
        """Ask for a full frame (resync) and return it."""
        seen = len(self.frames)
        self.call("resync")
        self.wait(lambda: any(f["full"] for f in self.frames[seen:]), "a full frame")
        return next(f for f in self.frames[seen:] if f["full"])

    def close(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:
            pass
