"""Time of slide exports: a 10-second range of a busy run as GIF and WebM, and stills.

A 5-node cluster runs a background workload (100 client writes per second over 10 keys, so
there are always messages in flight and the logs grow) for 15 simulated seconds. Then the
exporter renders the range 5000..15000 ms (10 s of the run) as a 10-second clip at 15 fps
(150 frames), once as GIF and once as WebM, at 1920x1080 and at 1280x720, exactly as the
server's worker thread does (replica of the history, then ``ClipJob.step`` in chunks); and the
current view as SVG and PNG. Target: a 10-second range finishes within 20 s.

Run from the repository root:

    .venv/bin/python -m bench.bench_export [--seconds S] [--fps F] [--range-ms MS]

Figures are wall-clock seconds on this machine (other processes share its cores: the load
average is printed) and CPU seconds of this process plus ffmpeg (the WebM encoder from the
imageio-ffmpeg wheel, its own process with two threads), which do not depend on that load.
"""

import argparse
import os
import resource
import time

from raftviz.export.jobs import ClipJob, parse_request, render_still
from raftviz.export.replay import replica, view_snapshot
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.history import History

TARGET_S = 20.0


def busy_run(until: float) -> History:
    h = History(ClusterConfig(size=5, seed=1))
    h.run_until(1000)
    h.apply_json({"type": "workload", "rate": 100, "keys": 10})
    h.run_until(until)
    return h


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg) so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length (s)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--range-ms", type=float, default=10_000.0, help="range of the run")
    args = parser.parse_args()
    end = 5000.0 + args.range_ms
    h = busy_run(end)
    snap = view_snapshot(h.cluster)
    print(f"run: {h.now:.0f} ms simulated, {len(snap['messages'])} messages in flight, "
          f"{max(n['log_length'] for n in snap['nodes'])} log entries")
    t, cpu = time.perf_counter(), cpu_seconds()
    replica(h, 5000.0).run_until(end)
    print(f"replaying the range alone (the simulation, no drawing): "
          f"{time.perf_counter() - t:.2f} s wall, {cpu_seconds() - cpu:.2f} s cpu")
    worst = 0.0
    for size in ("1920x1080", "1280x720"):
        for fmt in ("svg", "png"):
            t = time.perf_counter()
            result = render_still(snap, parse_request({"format": fmt, "size": size}, h.horizon))
            print(f"{fmt:4} {size:9}  1 frame     {time.perf_counter() - t:6.2f} s  "
                  f"{len(result.data) / 1024:8.0f} KiB")
        for fmt in ("gif", "webm"):
            req = parse_request({"format": fmt, "size": size, "start": 5000.0, "end": end,
                                 "fps": args.fps, "seconds": args.seconds}, h.horizon)
            t, cpu = time.perf_counter(), cpu_seconds()
            job = ClipJob(replica(h, req.start), req)
            while job.done < job.total:
                job.step(5)
            result = job.finish()
            took, used = time.perf_counter() - t, cpu_seconds() - cpu
            worst = max(worst, took)
            print(f"{fmt:4} {size:9}  {req.frames} frames  {took:6.2f} s wall  {used:6.2f} s cpu"
                  f"  {len(result.data) / 1024:8.0f} KiB")
    verdict = "ok" if worst <= TARGET_S else "OVER TARGET"
    print(f"slowest clip of a {args.range_ms / 1000:g} s range: {worst:.2f} s "
          f"(target {TARGET_S:g} s): {verdict}; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
