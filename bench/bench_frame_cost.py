"""CPU per frame of a playing session, in process: simulate, build the frame, encode it.

What the server does for each playing session 20 times a second, without the sockets: run 50 ms
of real time at the session's speed (``Session.play_for``), build the page's next frame
(``build_frame``, with History's position as playback passes it) and encode it as a Socket.IO
packet is encoded (``wire_json.dumps``). Prints the CPU time of each part per frame, averaged
over all sessions and ticks, so a change to the per-frame path can be measured on a busy machine
(CPU time is the figure to compare; wall time depends on what else runs).

Run from the repository root:

    .venv/bin/python -m bench.bench_frame_cost [--sessions 20] [--ticks 200] [--speed 0.05]
        [--workload 0]

``--workload`` starts a steady client load (ops/s) in every session; ``--speed`` is the playback
speed (0.05 is the page's default: most frames then see no event, only the clocks move).
"""

from __future__ import annotations

import argparse
import time

from raftviz.service.frame_state import FrameState
from raftviz.service.sessions import SessionManager
from raftviz.web import wire_json
from raftviz.web.frames import build_frame

WARMUP_TICKS = 20


def run(sessions: int, ticks: int, speed: float, workload: float) -> dict[str, float]:
    manager = SessionManager()
    opened = [manager.open(None) for _ in range(sessions)]
    states = {}
    for session in opened:
        session.playing = True
        session.speed = speed
        if workload:
            session.history.apply_json({"type": "workload", "rate": workload})
        states[id(session)] = FrameState()
    parts = {"play": 0.0, "frame": 0.0, "encode": 0.0}
    frames = 0

    def tick() -> None:
        nonlocal frames
        for session in opened:
            a = time.process_time()
            session.play_for(50.0, time.perf_counter() + 1, time.perf_counter)
            b = time.process_time()
            h = session.history
            frame = build_frame(
                h.cluster, states[id(session)], session.player_state(),
                version=(h.cursor, len(h.log)),
            )
            frame["changed"] = session.changed()
            c = time.process_time()
            wire_json.dumps(["frame", frame], separators=(",", ":"))
            d = time.process_time()
            parts["play"] += b - a
            parts["frame"] += c - b
            parts["encode"] += d - c
            frames += 1

    for _ in range(WARMUP_TICKS):
        tick()
    parts = dict.fromkeys(parts, 0.0)
    frames = 0
    for _ in range(ticks):
        tick()
    result = {name: seconds / frames * 1e6 for name, seconds in parts.items()}
    result["total"] = sum(result.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--speed", type=float, default=0.05)
    parser.add_argument("--workload", type=float, default=0.0, help="client ops/s per session")
    args = parser.parse_args()
    r = run(args.sessions, args.ticks, args.speed, args.workload)
    print(
        f"{args.sessions} sessions x {args.ticks} ticks, speed {args.speed:g}, "
        f"workload {args.workload:g} ops/s"
    )
    print(
        f"  CPU per frame: {r['total']:.0f} us = simulation {r['play']:.0f} + "
        f"frame {r['frame']:.0f} + JSON {r['encode']:.0f}"
    )


if __name__ == "__main__":
    main()
