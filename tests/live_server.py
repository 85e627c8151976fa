"""Run ``app.py`` as a subprocess on a free port (browser tests, smoke tests, web benchmarks).

A separate process, so eventlet's monkey patching never happens in the caller. Output goes to a
file under out/, not a pipe (an unread pipe fills up and blocks the server once it logs
enough); the file is removed when the block ends without an error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def live_server(
    *flags: str, log_path: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``python app.py --port <free> *flags``; yield (base URL, process); stop it after."""
    port = free_port()
    if log_path is None:
        log_dir = REPO_ROOT / "out"
        log_dir.mkdir(exist_ok=True)
        log_path = log_dir / f"server-{port}.log"
    # Each server gets its own session store (the default SQLite file lives under
    # $XDG_DATA_HOME), so test and benchmark servers never share or leave one in $HOME.
    data_home = tempfile.TemporaryDirectory(prefix="raftviz-store-")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(port), *flags],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "XDG_DATA_HOME": data_home.name},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not accepts(port):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"app.py exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"app.py is not listening on port {port} after {START_TIMEOUT}s:\n"
                    f"{log_path.read_text(errors='replace')}"
                )
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", proc
    except BaseException:
        keep_log = True  # for whoever debugs the failure
        raise
    else:
        keep_log = False
    finally:
        terminate(proc)
        data_home.cleanup()
    if not keep_log:
        log_path.unlink(missing_ok=True)


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process has not gone within 5 s."""
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
