"""Export requests: checked against hard limits, then rendered as one still or a clip.

Plain Python (no Flask): raftviz/web/export_events.py checks the payload with
:func:`parse_request`, takes what it needs from the session under its lock (a snapshot for a
still, a :func:`~raftviz.export.replay.replica` of the history for a clip), and then renders off
the event loop, a few frames at a time, reporting progress between chunks.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

from raftviz.export.raster import Backdrops, render_palette, render_rgb, to_png
from raftviz.export.replay import frame_times, snapshots
from raftviz.export.scene import Caption, build_scene
from raftviz.export.svg import to_svg
from raftviz.export.video import GifWriter, OutputTooLarge, WebmWriter
from raftviz.sim.history import History

FORMATS = ("svg", "png", "gif", "webm")
CLIP_FORMATS = ("gif", "webm")
SIZES = {"1920x1080": (1920, 1080), "1280x720": (1280, 720)}
DEFAULT_SIZE = "1920x1080"
MIN_FPS, MAX_FPS, DEFAULT_FPS = 5, 30, 15
MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS = 1.0, 40.0, 10.0
MAX_FRAMES = 600
MAX_RANGE_MS = 60_000.0  # simulated ms one clip may cover
MIN_MS_PER_FRAME = 1.0  # finer than this, frames would repeat one another
MAX_OUTPUT_BYTES = 64 * 2**20
MIME = {
    "svg": "image/svg+xml",
    "png": "image/png",
    "gif": "image/gif",
    "webm": "video/webm",
}
FIELDS = {
    "svg": {"format", "size"},
    "png": {"format", "size"},
    "gif": {"format", "size", "start", "end", "fps", "seconds"},
    "webm": {"format", "size", "start", "end", "fps", "seconds"},
}


class ExportError(Exception):
    """A request refused (or an export stopped); the message says what to change."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    format: str
    width: int
    height: int
    start: float = 0.0
    end: float = 0.0
    fps: int = DEFAULT_FPS
    seconds: float = DEFAULT_SECONDS

    @property
    def clip(self) -> bool:
        return self.format in CLIP_FORMATS

    @property
    def frames(self) -> int:
        return max(round(self.seconds * self.fps), 1) if self.clip else 1


@dataclass(frozen=True, slots=True)
class ExportResult:
    data: bytes
    mime: str
    filename: str
    frames: int
    width: int
    height: int


def _number(data: dict[str, Any], name: str, low: float, high: float, default: float | None,
            unit: str = "") -> float:
    value = data.get(name, default)
    if value is None:
        raise ExportError(f"export: {name} is required (a number within {low:g}..{high:g}{unit})")
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not low <= value <= high):
        raise ExportError(
            f"export: {name} must be a number within {low:g}..{high:g}{unit}, got {value!r}"[:160]
        )
    return float(value)


def parse_request(data: dict[str, Any], horizon: float) -> ExportRequest:
    """Check an export request against the run so far (``horizon`` ms) and the limits."""
    fmt = data.get("format")
    if not isinstance(fmt, str) or fmt not in FORMATS:
        raise ExportError(f"export: format must be one of {', '.join(FORMATS)}, got {fmt!r}"[:160])
    extra = sorted(set(data) - FIELDS[fmt])
    if extra:
        raise ExportError(f"export {fmt}: unexpected field(s) {', '.join(map(repr, extra))}; "
                          f"expected {', '.join(sorted(FIELDS[fmt]))}"[:200])
    size = data.get("size", DEFAULT_SIZE)
    if not isinstance(size, str) or size not in SIZES:
        raise ExportError(f"export: size must be one of {', '.join(SIZES)}, got {size!r}"[:160])
    width, height = SIZES[size]
    if fmt not in CLIP_FORMATS:
        return ExportRequest(fmt, width, height)
    start = _number(data, "start", 0.0, horizon, None, " ms, the run so far")
    end = _number(data, "end", 0.0, horizon, None, " ms, the run so far")
    if end <= start:
        raise ExportError(f"export: end ({end:g} ms) must come after start ({start:g} ms)")
    if end - start > MAX_RANGE_MS:
        raise ExportError(f"export: a clip covers at most {MAX_RANGE_MS:g} ms of the run; "
                          f"{start:g}..{end:g} is {end - start:g} ms")
    fps = _number(data, "fps", MIN_FPS, MAX_FPS, DEFAULT_FPS, " frames per second")
    if fps != int(fps):
        raise ExportError(f"export: fps must be a whole number, got {fps:g}")
    seconds = _number(data, "seconds", MIN_SECONDS, MAX_SECONDS, DEFAULT_SECONDS, " s")
    req = ExportRequest(fmt, width, height, start, end, int(fps), seconds)
    if req.frames > MAX_FRAMES:
        raise ExportError(f"export: {req.frames} frames ({seconds:g} s at {fps:g} fps); a clip "
                          f"has at most {MAX_FRAMES}: shorten it or lower fps")
    if (end - start) / max(req.frames - 1, 1) < MIN_MS_PER_FRAME:
        raise ExportError(f"export: {req.frames} frames over {end - start:g} ms is less than "
                          f"{MIN_MS_PER_FRAME:g} ms of the run per frame; widen the range or "
                          "make the clip shorter")
    return req


def _name(req: ExportRequest, snap_or_start: float) -> str:
    if req.clip:
        return f"raftviz-{round(req.start)}-{round(req.end)}ms.{req.format}"
    return f"raftviz-{round(snap_or_start)}ms.{req.format}"


def render_still(snap: dict[str, Any], req: ExportRequest) -> ExportResult:
    """The current view as SVG or PNG."""
    scene = build_scene(snap, req.width, req.height)
    data = to_svg(scene).encode() if req.format == "svg" else to_png(scene)
    return ExportResult(data, MIME[req.format], _name(req, float(snap.get("time", 0.0))), 1,
                        req.width, req.height)


class ClipJob:
    """A GIF or WebM of ``req``'s range, rendered ``step(n)`` frames at a time on ``twin``."""

    def __init__(self, twin: History, req: ExportRequest) -> None:
        self.req = req
        self.total = req.frames
        self.done = 0
        self._frames = snapshots(twin, frame_times(req.start, req.end, req.frames))
        self._buf = io.BytesIO()
        self._backdrops = Backdrops()
        self._gif: GifWriter | None = None
        self._webm: WebmWriter | None = None
        if req.format == "gif":
            self._gif = GifWriter(self._buf, req.fps, MAX_OUTPUT_BYTES)
        else:
            self._webm = WebmWriter((req.width, req.height), req.fps, MAX_OUTPUT_BYTES)

    def step(self, n: int) -> int:
        """Render up to ``n`` more frames; returns how many are done."""
        req = self.req
        try:
            for _ in range(min(n, self.total - self.done)):
                snap = next(self._frames)
                caption = Caption(req.start, req.end, self.done, self.total)
                scene = build_scene(snap, req.width, req.height, caption)
                if self._gif is not None:
                    self._gif.add(render_palette(scene, self._backdrops))
                elif self._webm is not None:
                    self._webm.add(render_rgb(scene, backdrops=self._backdrops))
                self.done += 1
        except OutputTooLarge as exc:
            self.abort()
            raise ExportError(f"export stopped: {exc}; make the clip shorter or smaller") from None
        return self.done

    def finish(self) -> ExportResult:
        if self.done < self.total:
            raise ExportError("export: not every frame is rendered yet")
        try:
            if self._gif is not None:
                self._gif.close()
                data = self._buf.getvalue()
            else:
                assert self._webm is not None
                data = self._webm.finish()
        except OutputTooLarge as exc:
            raise ExportError(f"export stopped: {exc}; make the clip shorter or smaller") from None
        req = self.req
        return ExportResult(data, MIME[req.format], _name(req, req.start), self.total,
                            req.width, req.height)

    def abort(self) -> None:
        """Stop early and free what the encoder holds."""
        if self._webm is not None:
            self._webm.abort()
        self._buf = io.BytesIO()
