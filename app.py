"""Run the raftviz web lab: ``python app.py`` serves http://127.0.0.1:5000.

Flags: ``--host``, ``--port``, ``--async-mode {eventlet,gevent,threading}`` (default eventlet),
``--max-sessions`` (default 200), ``--session-ttl`` (idle minutes before a session expires,
default 30), ``--store PATH`` (the SQLite file sessions are kept in, so they survive a restart;
default ``$XDG_DATA_HOME/raftviz/sessions.sqlite3``; ``--store none`` keeps them in memory
only), ``--redis URL`` (keep sessions in Redis instead, so several workers share them),
``--message-queue URL`` (Redis: Socket.IO broadcasts reach pages on every worker),
``--worker NAME`` (names this worker in logs and a response header). docs/deploy.md says when
to use which.

In eventlet (or gevent) mode the standard library is monkey-patched before anything else is
imported, which is why the raftviz imports are inside :func:`main`.
"""

from __future__ import annotations

import argparse
import sys
import warnings

ASYNC_MODES = ("eventlet", "gevent", "threading")


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a whole number, not {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be within 1..65535, not {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, not {text!r}") from None
    if not 0 < value <= 7 * 24 * 60:
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most a week, not {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="raftviz: an interactive Raft lab in the browser (one simulated cluster "
        "per browser session).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=_port, default=5000, help="port to listen on (5000)")
    parser.add_argument(
        "--async-mode",
        choices=ASYNC_MODES,
        default="eventlet",
        help="server concurrency model (eventlet); threading needs no extra package",
    )
    parser.add_argument(
        "--max-sessions",
        type=_positive_int,
        default=200,
        help="concurrent browser sessions before new ones are refused (200)",
    )
    parser.add_argument(
        "--session-ttl",
        type=_minutes,
        default=30.0,
        metavar="MINUTES",
        help="minutes without use before a session expires (30)",
    )
    parser.add_argument(
        "--store",
        metavar="PATH",
        default=None,
        help="SQLite file for durable sessions ($XDG_DATA_HOME/raftviz/sessions.sqlite3); "
        "'none' keeps sessions in memory only",
    )
    parser.add_argument(
        "--redis",
        metavar="URL",
        default=None,
        help="keep sessions in Redis (redis://host:port/db) instead of SQLite",
    )
    parser.add_argument(
        "--message-queue",
        metavar="URL",
        default=None,
        help="Redis URL for Socket.IO broadcasts between several workers",
    )
    parser.add_argument("--worker", default="", help="a name for this worker (logs, header)")
    args = parser.parse_args(argv)
    for flag, url in (("--redis", args.redis), ("--message-queue", args.message_queue)):
        if url is not None and not url.startswith(("redis://", "rediss://")):
            parser.error(f"{flag} must be a redis:// or rediss:// URL, not {url!r}")
    if args.redis and args.store not in (None, "none"):
        parser.error("--store and --redis both name where sessions are kept; give one")
    from importlib.util import find_spec

    needs = {"eventlet": ["eventlet"], "gevent": ["gevent", "geventwebsocket"]}
    missing = [name for name in needs.get(args.async_mode, []) if find_spec(name) is None]
    if missing:
        parser.error(
            f"--async-mode {args.async_mode} needs {', '.join(missing)}, which is not installed; "
            "install it or use --async-mode threading"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.async_mode == "eventlet":
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import eventlet

        eventlet.monkey_patch()
    elif args.async_mode == "gevent":
        from gevent import monkey  # type: ignore[import-untyped]

        monkey.patch_all()

    from raftviz.service.store import open_store
    from raftviz.web import create_app
    from raftviz.web.server import serve

    store = None
    if args.redis or args.store != "none":
        try:
            store = open_store(args.store, args.redis)
        except Exception as exc:  # an unwritable path, Redis not reachable
            where = args.redis or args.store or "the default session file"
            print(f"app.py: cannot open the session store {where}: {exc}", file=sys.stderr)
            return 1
    app, socketio = create_app(
        {
            "async_mode": args.async_mode,
            "max_sessions": args.max_sessions,
            "session_ttl": args.session_ttl,
            "store": store,
            "message_queue": args.message_queue,
            "worker": args.worker,
        }
    )
    kept = "in memory only" if store is None else f"stored in {store.description}"
    print(
        f"raftviz: serving http://{args.host}:{args.port}/ "
        f"(async mode {args.async_mode}, at most {args.max_sessions} sessions, {kept})",
        flush=True,
    )
    try:
        serve(app, socketio, args.host, args.port)
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # e.g. the port is taken
        print(f"app.py: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
