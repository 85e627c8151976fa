"""Frames per second of the lab page with 9 servers and about 100 messages in flight.

Starts `app.py` on a free port, opens the page in headless Chromium (Debian's, as the e2e tests
do), resets to 9 servers, sets latency to 200-400 ms and a client workload of 300 ops/s, plays
at 1× real time, and counts requestAnimationFrame callbacks over about 5 seconds while frames
stream in. Prints the frames per second and how many messages were in flight. Target: 50 fps.

Run from the repository root:

    .venv/bin/python -m bench.bench_render [--seconds 5] [--size 9] [--rate 300]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
TARGET_FPS = 50

# Runs inside the page: count animation frames and sample the messages in flight.
MEASURE = """async (seconds) => {
  const store = window.raftviz.store;
  const samples = [];
  let frames = 0;
  let worst = 0;
  let last = performance.now();
  const start = last;
  const perf0 = { ...window.raftviz.perf, views: { ...window.raftviz.perf.views } };
  await new Promise((done) => {
    function tick(now) {
      frames += 1;
      worst = Math.max(worst, now - last);
      last = now;
      if (frames % 10 === 0) samples.push((store.snapshot.messages || []).length);
      if (now - start < seconds * 1000) requestAnimationFrame(tick);
      else done();
    }
    requestAnimationFrame(tick);
  });
  const elapsed = (performance.now() - start) / 1000;
  const p = window.raftviz.perf;
  const renders = p.renders - perf0.renders;
  const animates = p.animates - perf0.animates;
  const render_ms = (p.renderMs - perf0.renderMs) / Math.max(renders, 1);
  const animate_ms = (p.animateMs - perf0.animateMs) / Math.max(animates, 1);
  const drawn = window.raftviz.messageSpots().length;
  return { fps: frames / elapsed, worst_ms: worst, frames, elapsed,
           in_flight_avg: samples.reduce((a, b) => a + b, 0) / Math.max(samples.length, 1),
           in_flight_max: Math.max(0, ...samples), drawn_now: drawn,
           renders, render_ms, animate_ms,
           views: Object.fromEntries(Object.entries(p.views).map(
             ([k, v]) => [k, (v - (perf0.views[k] || 0)) / Math.max(renders, 1)])) };
}"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"app.py exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"app.py is not listening on port {port}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--size", type=int, default=9)
    parser.add_argument("--rate", type=float, default=300.0, help="client ops per second")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=768)
    args = parser.parse_args()

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_listening(port, proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "ok")
            page.evaluate(
                """async ([size, rate]) => {
                  const api = window.raftviz.api;
                  await api.reset({ size, seed: 1 });
                  await api.command({ type: "network", latency_min: 200, latency_max: 400 });
                  await api.command({ type: "workload", rate });
                  await api.player("speed", { speed: 1 });
                  await api.player("play");
                }""",
                [args.size, args.rate],
            )
            expect(page.locator('[data-testid^="node-n"]')).to_have_count(args.size)
            page.wait_for_timeout(1500)  # let the load build up before measuring
            server_cpu = cpu_seconds(proc.pid)
            started = time.monotonic()
            result = page.evaluate(MEASURE, args.seconds)
            server_share = (cpu_seconds(proc.pid) - server_cpu) / (time.monotonic() - started)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    verdict = "OK" if result["fps"] >= TARGET_FPS else "BELOW TARGET"
    print(
        f"bench_render: {args.size} servers, {args.width}x{args.height}, "
        f"{result['in_flight_avg']:.0f} messages in flight on average "
        f"(max {result['in_flight_max']}, {result['drawn_now']} drawn at the end)"
    )
    print(
        f"bench_render: {result['fps']:.1f} fps over {result['elapsed']:.1f} s "
        f"({result['frames']} frames, worst frame {result['worst_ms']:.0f} ms); "
        f"target {TARGET_FPS} fps: {verdict}"
    )
    print(
        f"bench_render: {result['renders']} view renders at {result['render_ms']:.1f} ms each, "
        f"canvas animation {result['animate_ms']:.1f} ms per frame (the rest is the browser's "
        "style, layout and paint)"
    )
    load = os.getloadavg()[0]
    print(
        f"bench_render: the server used {server_share:.0%} of a core meanwhile; "
        f"{os.cpu_count()} cores, load average {load:.1f} (other work on the machine lowers fps)"
    )
    by_cost = sorted(result["views"].items(), key=lambda kv: -kv[1])
    views = ", ".join(f"{k} {v:.1f}" for k, v in by_cost)
    print(f"bench_render: ms per render by view: {views}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
