"""Pages: the lab itself (``templates/index.html``), a "server full" page, a health check."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request

from raftviz.service.sessions import SessionManager
from raftviz.web.playback import Playback

# The page is plain ES modules from this origin; nothing inline runs (the JSON data block is
# not executed), so a strict policy costs nothing and blunts any injection.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# The embed page is meant to sit in an iframe on any course page or slide deck.
EMBED_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "frame-ancestors 'none'", "frame-ancestors *"
)


def register_routes(
    app: Flask,
    manager: SessionManager,
    playback: Playback,
    version: str,
    defaults: dict[str, Any],
) -> None:
    @app.get("/")
    def index() -> Any:
        student = bool(request.args.get("join"))  # a classroom student needs no session
        if manager.full and not student:
            playback.expire()
        if manager.full and not student:
            body = render_template(
                "server_full.html",
                max_sessions=manager.limits.max_sessions,
                ttl_minutes=f"{manager.limits.session_ttl / 60:g}",
            )
            return body, 503, {"Retry-After": "60", "Cache-Control": "no-store"}
        body = render_template("index.html", version=version, defaults=defaults)
        # no-cache, not no-store: the page may be kept in the back/forward cache (it holds no
        # secret; the session token lives in the tab's sessionStorage) but is revalidated.
        return body, 200, {"Cache-Control": "no-cache"}

    @app.get("/embed")
    def embed() -> Any:
        """A saved run or a lesson's steps in an iframe, with player controls only."""
        body = render_template("embed.html", version=version)
        return body, 200, {
            "Cache-Control": "no-store",
            "Content-Security-Policy": EMBED_CONTENT_SECURITY_POLICY,
        }

    @app.get("/join/<code>")
    def join(code: str) -> Any:
        """A classroom link: the lab page as a student of classroom ``code``."""
        clean = "".join(ch for ch in code.upper() if ch.isascii() and ch.isalnum())[:16]
        return redirect(f"/?join={clean}", code=302)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(
            ok=True,
            sessions=len(manager),
            max_sessions=manager.limits.max_sessions,
            playing=len(manager.playing()),
            playback=playback.stats(),
        )

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response
