"""Plumbing smoke test: the package imports and the vendored Socket.IO client is in place."""

import re
from pathlib import Path

import raftviz

VENDOR = Path(__file__).resolve().parents[1] / "static" / "vendor"
CLIENT = VENDOR / "socket.io" / "socket.io.esm.min.js"


def test_package_imports() -> None:
    assert raftviz.__name__ == "raftviz"


def test_vendored_socketio_client_exports_io() -> None:
    text = CLIENT.read_text(encoding="utf-8")
    assert text.strip(), f"{CLIENT} is empty"
    # The page does `import { io } from "/static/vendor/socket.io/socket.io.esm.min.js"`.
    assert re.search(r"export\s*\{[^}]*\bas io\b", text), "ESM bundle does not export io"
    assert (VENDOR / "socket.io" / "LICENSE").is_file()
    assert "socket.io.esm.min.js" in (VENDOR / "VERSIONS.md").read_text(encoding="utf-8")
