"""Real processes for the deployment tests: redis-server, app.py workers, nginx.

Each runs from Debian's binaries on a free loopback port with its files in a temporary
directory (nginx with its own ``-p`` prefix and configuration: no root paths). Nothing here
imports the app: eventlet must never be monkey-patched in the pytest process.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from tests.live_server import REPO_ROOT, accepts, free_port, terminate

START_TIMEOUT = 20.0
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not accepts(port):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} is not listening on {port}:\n{log.read_text()}")
        time.sleep(0.05)


class Redis:
    """A throwaway redis-server on 127.0.0.1 (no persistence, its files in ``workdir``)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(workdir), "--logfile", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        self.log.touch()
        wait_listening(self.port, self.proc, self.log, "redis-server")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        terminate(self.proc)


class App:
    """``python app.py`` on a fixed port (so a restarted worker answers at the same address)."""

    def __init__(self, workdir: Path, *flags: str, port: int | None = None, name: str = "app",
                 env: dict[str, str] | None = None):
        self.port = port or free_port()
        self.flags = flags
        self.env = env or {}
        self.name = name
        self.log = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "app.py", "--host", "127.0.0.1", "--port", str(self.port),
                 *self.flags],
                cwd=REPO_ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )
        wait_listening(self.port, self.proc, self.log, self.name)

    def kill9(self) -> None:
        """SIGKILL: no cleanup, no last write; only what was already stored survives."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        while accepts(self.port):
            time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        terminate(self.proc)


NGINX_CONF = REPO_ROOT / "deploy" / "nginx.conf"


class Nginx:
    """Debian's nginx with deploy/nginx.conf's routing, on a free port, prefix ``workdir``."""

    def __init__(self, workdir: Path, workers: list[int]) -> None:
        self.port = free_port()
        self.prefix = workdir / "nginx"
        (self.prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        conf.write_text(render_nginx_conf(NGINX_CONF.read_text(), self.port, workers, self.prefix))
        self.log = self.prefix / "logs" / "error.log"
        self.log.touch()
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.log),
             "-g", "daemon off;"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        wait_listening(self.port, self.proc, self.log, "nginx")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        terminate(self.proc)


def worker_of(url: str, cookie: str) -> str:
    """Which worker answers a client holding route cookie ``cookie`` (X-Raftviz-Worker)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", "/healthz", headers={"Cookie": f"raftviz_route={cookie}"})
        response = conn.getresponse()
        response.read()
        return response.getheader("X-Raftviz-Worker") or ""
    finally:
        conn.close()


def route_cookies(url: str, workers: set[str]) -> dict[str, str]:
    """A route cookie for each worker, found by asking nginx (its hash decides)."""
    found: dict[str, str] = {}
    for i in range(500):
        cookie = f"probe{i}"
        found.setdefault(worker_of(url, cookie), cookie)
        if workers <= set(found):
            return {w: found[w] for w in workers}
    raise AssertionError(f"no cookie routes to {sorted(workers - set(found))}")


def render_nginx_conf(template: str, port: int, workers: list[int], prefix: Path) -> str:
    """deploy/nginx.conf with its listen port, upstream servers and paths filled in."""
    servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;"
                        for p in workers)
    return (template.replace("@LISTEN@", f"127.0.0.1:{port}")
            .replace("@UPSTREAMS@", servers.strip())
            .replace("@PREFIX@", str(prefix)))
