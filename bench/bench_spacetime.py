"""The space-time diagram of a 10-minute run at 100 writes/s: memory of the run record, and
frames per second while scrolling it in the browser.

Part 1 (in this process, skip with --no-memory): runs the same 10-minute workload in the
simulator and prints what the run record holds, the bytes its columns take, and how long the
server takes to answer a window (2 s zoomed in; the whole run zoomed out).

Part 2: starts `app.py` on a free port, opens the lab in headless Chromium (Debian's, as the e2e
tests do), resets to 5 servers, sets a client workload of 100 writes/s, advances the run to the
10-minute limit (30 advances of 20 s: the server simulates it, which takes a few minutes), opens
the Space-time tab, zooms to a window of --span ms in the middle of the run, then dispatches a
wheel event on the diagram every display frame for --seconds (each scrolls --step pixels: the
diagram moves, fetches the windows it needs and redraws), and counts requestAnimationFrame
callbacks. It does the same zoomed out over the whole run. Target: 50 fps.

Run from the repository root:

    .venv/bin/python -m bench.bench_spacetime [--seconds 5] [--span 2000] [--step 20] [--run 600000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.live_server import live_server  # noqa: E402

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
RUN_MS = 600_000.0
RATE = 100.0

# Runs inside the page: scroll the diagram by a wheel event every frame, count frames.
MEASURE = """async ([seconds, step]) => {
  const canvas = document.querySelector('[data-testid="spacetime-canvas"]');
  const r = canvas.getBoundingClientRect();
  const st = window.raftviz.spacetime;
  const first = st.stats();
  let frames = 0, worst = 0, covered = 0, arrows = 0, density = 0;
  let last = performance.now();
  const start = last;
  const gaps = [];
  await new Promise((done) => {
    function tick(now) {
      frames += 1;
      gaps.push(now - last);
      worst = Math.max(worst, now - last);
      last = now;
      const s = st.stats();
      if (s.covered) covered += 1;
      if (s.density) density += 1;
      arrows += s.arrows;
      canvas.dispatchEvent(new WheelEvent("wheel", { deltaY: step, clientX: r.left + r.width / 2,
        clientY: r.top + r.height / 2, bubbles: true, cancelable: true }));
      if (now - start < seconds * 1000) requestAnimationFrame(tick);
      else done();
    }
    requestAnimationFrame(tick);
  });
  const elapsed = (performance.now() - start) / 1000;
  const end = st.stats();
  gaps.sort((a, b) => a - b);
  return { fps: frames / elapsed, frames, elapsed, worst_ms: worst,
           p95_ms: gaps[Math.floor(gaps.length * 0.95)] || 0,
           covered: covered / Math.max(frames, 1), arrows_avg: arrows / Math.max(frames, 1),
           density: density / Math.max(frames, 1), fetches: end.fetches - first.fetches,
           draw_ms: (end.drawMs - first.drawMs) / Math.max(end.draws - first.draws, 1),
           scrolled_ms: end.start - first.start, span: end.span };
}"""


def memory_part() -> None:
    from raftviz.sim.engine.cluster import ClusterConfig
    from raftviz.sim.history import SCRIPT_BUDGET, History

    t = time.perf_counter()
    h = History(ClusterConfig(size=5, seed=1), budget=SCRIPT_BUDGET)
    h.apply_json({"type": "workload", "rate": RATE, "read_ratio": 0.0, "keys": 5})
    while h.now < RUN_MS:
        h.run_until(min(RUN_MS, h.now + 60_000))
    took = time.perf_counter() - t
    rec = h.cluster.record
    assert rec is not None
    print(
        f"bench_spacetime: 10-minute run at {RATE:g} writes/s simulated in {took:.0f} s: "
        f"{rec.message_count} messages and {rec.mark_count} marks recorded, "
        f"{rec.nbytes() / 1e6:.1f} MB of columns "
        f"({rec.nbytes() / max(rec.message_count, 1):.0f} bytes per message, marks included); "
        f"{int(h.cluster.metrics['ops_ok'])} writes answered"
    )
    for label, start, stop in (("2 s", 300_000.0, 302_000.0), ("whole run", 0.0, RUN_MS)):
        t = time.perf_counter()
        window = rec.window(start, stop)
        ms = (time.perf_counter() - t) * 1000
        size = len(json.dumps(window, separators=(",", ":")))
        shown = f"{len(window['messages'])} arrows" if "messages" in window else "density bins"
        print(
            f"bench_spacetime: window of {label}: {shown}, {len(window['marks'])} marks, "
            f"built in {ms:.0f} ms, {size / 1000:.0f} KB of JSON"
        )


def browser_part(
    seconds: float, span: float, step: float, width: int, height: int, run_ms: float
) -> bool:
    ok = True
    with live_server(log_path=ROOT / "out" / "bench-spacetime-server.log") as (url, _proc):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url + "/")
            expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "ok")
            t = time.perf_counter()
            page.evaluate(
                """async ([rate, runMs]) => {
                  const api = window.raftviz.api;
                  await api.reset({ size: 5, seed: 1 });
                  await api.command({ type: "workload", rate, read_ratio: 0, keys: 5 });
                  // Short advances: each must answer within the page's one-minute ack timeout
                  // even on a busy machine.
                  for (let i = 0; i < runMs / 20000; i += 1) {
                    const ack = await api.player("advance", { ms: 20000 });
                    if (!ack.ok) throw new Error(ack.error);
                  }
                }""",
                [RATE, run_ms],
            )
            expect(page.get_by_test_id("sim-time")).to_have_attribute("data-time", f"{run_ms:g}")
            took = time.perf_counter() - t
            print(f"bench_spacetime: the server ran the 10 minutes in {took:.0f} s")
            # The same loop with the diagram hidden: what this machine allows the page now.
            base = page.evaluate(MEASURE, [seconds, 0])
            print(
                f"bench_spacetime: baseline, diagram hidden: {base['fps']:.1f} fps "
                f"(p95 {base['p95_ms']:.0f} ms): the ceiling under the current load"
            )
            page.get_by_test_id("view-spacetime").click()
            page.get_by_test_id("st-whole").click()
            canvas = page.get_by_test_id("spacetime-canvas")
            box = canvas.bounding_box()
            assert box is not None
            # Zoom from the whole run to `span`, around the middle of the view (ctrl+wheel).
            whole = page.evaluate("() => window.raftviz.spacetime.stats().span")
            delta = math.log(span / whole) / 0.002
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.keyboard.down("Control")
            page.mouse.wheel(0, delta)
            page.keyboard.up("Control")
            page.wait_for_timeout(1500)  # the first window arrives
            for label, shown_span in (("zoomed in", span), ("whole run", None)):
                if shown_span is None:
                    page.get_by_test_id("st-whole").click()
                    page.wait_for_timeout(1500)
                r = page.evaluate(MEASURE, [seconds, step])
                verdict = "OK" if r["fps"] >= TARGET_FPS else "BELOW TARGET"
                ok = ok and r["fps"] >= TARGET_FPS
                print(
                    f"bench_spacetime: scrolling {label} ({r['span']:.0f} ms across, "
                    f"{width}x{height}): {r['fps']:.1f} fps over {r['elapsed']:.1f} s "
                    f"({r['frames']} frames, p95 {r['p95_ms']:.0f} ms, "
                    f"worst {r['worst_ms']:.0f} ms); "
                    f"{r['arrows_avg']:.0f} arrows drawn per frame in {r['draw_ms']:.1f} ms"
                    f"{', density bars' if r['density'] > 0.5 else ''}; "
                    f"scrolled {r['scrolled_ms'] / 1000:.1f} s of the run with {r['fetches']} "
                    f"window fetches, data on hand in {r['covered']:.0%} of frames; "
                    f"target {TARGET_FPS} fps: {verdict}"
                )
            browser.close()
    load = os.getloadavg()[0]
    print(
        f"bench_spacetime: {os.cpu_count()} cores, load average {load:.1f} "
        "(other work on the machine lowers fps)"
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--span", type=float, default=2000.0, help="ms across the zoomed view")
    parser.add_argument("--step", type=float, default=20.0, help="wheel pixels per frame")
    parser.add_argument("--width", type=int, default=1366)
    parser.add_argument("--height", type=int, default=768)
    parser.add_argument("--no-memory", action="store_true", help="skip the in-process part")
    parser.add_argument("--no-browser", action="store_true", help="skip the browser part")
    parser.add_argument("--run", type=float, default=RUN_MS,
                        help="simulated ms to run in the browser part (a multiple of 20000)")
    args = parser.parse_args()
    if not args.no_memory:
        memory_part()
    if args.no_browser:
        return 0
    browser_part(args.seconds, args.span, args.step, args.width, args.height, args.run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
