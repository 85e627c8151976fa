"""Serving the app: Flask-SocketIO's runners, plus TCP_NODELAY on every connection.

Each event is answered with a frame and then an acknowledgement: two small writes in a row.
With Nagle's algorithm on, the second waits for the peer's delayed ACK (40 ms on Linux), which
would add 40 ms to every round trip. Linux gives accepted connections the listening socket's
TCP_NODELAY, so setting it on the listener is enough.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from flask import Flask
from flask_socketio import SocketIO


def _no_delay(sock: Any) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:  # not TCP (a Unix socket): nothing to do
        pass


# Seconds a thread may hold the interpreter lock while another waits for it (Python's default
# is 5 ms). In eventlet and gevent mode the event loop is one thread and requests that simulate
# run in worker threads; after every socket write the loop must win the lock back, and with the
# default it waits up to 5 ms each time, so a busy worker would slow every other session's
# frames. 0.5 ms keeps the loop prompt at a small cost in switches.
SWITCH_INTERVAL = 0.0005


def serve(app: Flask, socketio: SocketIO, host: str, port: int) -> None:
    """Serve until interrupted, in the app's async mode."""
    mode = socketio.async_mode
    if mode in ("eventlet", "gevent"):
        sys.setswitchinterval(SWITCH_INTERVAL)
    if mode == "eventlet":
        import eventlet
        import eventlet.green.socket
        import eventlet.wsgi

        addresses = eventlet.green.socket.getaddrinfo(host, port)
        if not addresses:
            raise RuntimeError(f"cannot resolve {host!r}")
        listener = eventlet.listen(addresses[0][4], addresses[0][0])
        _no_delay(listener)
        eventlet.wsgi.server(listener, app, log_output=False)
    elif mode == "threading":
        from werkzeug.serving import make_server

        server = make_server(host, port, app, threaded=True)
        _no_delay(server.socket)
        server.serve_forever()
    else:
        socketio.run(app, host=host, port=port, debug=False, use_reloader=False, log_output=False)
