"""Lighthouse scores (accessibility, performance, best practices, SEO) of the lab page.

Starts `app.py` on a free port and runs Lighthouse (desktop preset) against it with Debian's
Chromium, offline. Lighthouse comes from the npm registry; it is installed under
out/lighthouse/ on first use (about 1 minute). Prints each category's score and every audit
that lost points. Target: accessibility 1.0.

Run from the repository root:

    .venv/bin/python -m bench.bench_lighthouse [--path /?lesson=split-brain&step=1] [--mobile]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.live_server import live_server

ROOT = Path(__file__).resolve().parents[1]
PREFIX = ROOT / "out" / "lighthouse"
LIGHTHOUSE = PREFIX / "node_modules" / ".bin" / "lighthouse"
VERSION = "12.8.2"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def ensure_lighthouse() -> None:
    if LIGHTHOUSE.exists():
        return
    print(f"installing lighthouse {VERSION} under {PREFIX} ...", flush=True)
    PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--silent", "--prefix", str(PREFIX), f"lighthouse@{VERSION}"],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/", help="page path to audit (default: the lab)")
    parser.add_argument("--mobile", action="store_true", help="mobile preset instead of desktop")
    args = parser.parse_args()
    ensure_lighthouse()
    report = ROOT / "out" / "lighthouse-report.json"
    with live_server() as (url, _proc):
        cmd = [
            str(LIGHTHOUSE), url + args.path, "--output=json", f"--output-path={report}",
            "--quiet", "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
        ]
        if not args.mobile:
            cmd.append("--preset=desktop")
        done = subprocess.run(cmd, env={**os.environ, "CHROME_PATH": CHROMIUM}, timeout=600)
        if done.returncode != 0:
            print(f"lighthouse exited with {done.returncode}", file=sys.stderr)
            return done.returncode
    data = json.loads(report.read_text())
    print(f"lighthouse {data['lighthouseVersion']}, {'mobile' if args.mobile else 'desktop'}, "
          f"{args.path}")
    for name, cat in data["categories"].items():
        print(f"{name:15s} {cat['score']:.2f}")
    for name, cat in data["categories"].items():
        for ref in cat["auditRefs"]:
            audit = data["audits"][ref["id"]]
            if audit.get("score") is not None and audit["score"] < 1 and ref.get("weight", 0):
                print(f"  lost points: {name} / {ref['id']} ({audit['score']:.2f}) "
                      f"{audit['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
