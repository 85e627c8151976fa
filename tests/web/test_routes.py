"""HTTP: the lab page with its context, the "server full" page, health, headers."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, DictLoader

from .conftest import Server

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_index_gets_version_and_defaults(server: Server) -> None:
    # A stand-in template shows exactly what the route passes, whatever index.html holds.
    app = server.app
    assert app.jinja_loader is not None
    app.jinja_loader = ChoiceLoader(  # type: ignore[assignment]
        [DictLoader({"index.html": "{{ version }}|{{ defaults | tojson }}"}), app.jinja_loader]
    )
    app.jinja_env.cache = None
    with app.test_client() as http:
        response = http.get("/")
    assert response.status_code == 200
    version, defaults = response.get_data(as_text=True).split("|", 1)
    assert re.fullmatch(r"\d+\.\d+\.\d+-[0-9a-f]{8}", version)
    data = json.loads(defaults)
    assert data["speed"] == 0.05
    assert data["protocol_version"] == 1
    assert data["config"]["size"] == 5 and data["config"]["seed"] == 1
    assert data["limits"]["max_nodes"] == 9


def test_the_real_index_template_renders(server: Server) -> None:
    if not (TEMPLATES / "index.html").is_file():
        pytest.skip("templates/index.html is not written yet")
    with server.app.test_client() as http:
        response = http.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-cache"  # back/forward cache allowed


def test_a_full_server_answers_503(make_server: Callable[..., Server]) -> None:
    server = make_server(max_sessions=1)
    server.page()
    with server.app.test_client() as http:
        response = http.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert b'data-testid="server-full"' in response.data
    assert b"30 minutes" in response.data


def test_health_and_headers(server: Server) -> None:
    server.page()
    with server.app.test_client() as http:
        health = http.get("/healthz")
        page = http.get("/")
        vendor = http.get("/static/vendor/socket.io/socket.io.esm.min.js")
    assert health.get_json() == {
        "ok": True,
        "sessions": 1,
        "max_sessions": 200,
        "playing": 0,
        "playback": {"ticks": 0, "late_ticks": 0, "frames": 1, "behind": 0},
    }
    assert health.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert vendor.status_code == 200
    vendor.close()


def test_unknown_config_keys_and_modes_are_refused() -> None:
    from raftviz.web import create_app

    with pytest.raises(ValueError, match="unknown config key"):
        create_app({"max_session": 3})
    with pytest.raises(ValueError, match="async_mode must be one of"):
        create_app({"async_mode": "asyncio"})
