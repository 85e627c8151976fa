"""Animated GIF and WebM encoders that take frames one at a time (memory stays one frame).

GIF: Pillow's frame encoder, with one global palette (the scene's own colours, so frames are
drawn straight into it) and only the rectangle that changed since the previous frame stored.
WebM: VP9 through the ffmpeg binary that ships inside the imageio-ffmpeg wheel.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Generator
from typing import IO, Any

import imageio_ffmpeg
from PIL import GifImagePlugin, Image, ImageChops


class OutputTooLarge(Exception):
    """The encoded file passed the size limit."""


class GifWriter:
    """Writes an animated GIF frame by frame to ``fp`` (looping forever)."""

    def __init__(self, fp: IO[bytes], fps: float, max_bytes: int) -> None:
        self.fp = fp
        self.fps = fps
        self.max_bytes = max_bytes
        self.count = 0
        self.size = 0
        self.previous: Image.Image | None = None

    def _write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.fp.write(chunk)
            self.size += len(chunk)
        if self.size > self.max_bytes:
            raise OutputTooLarge(f"the GIF passed {self.max_bytes // 2**20} MiB")

    def _delay_ms(self) -> int:
        # GIF delays are whole centiseconds: spread the rounding so the average rate is exact.
        i = self.count
        return 10 * (round((i + 1) * 100 / self.fps) - round(i * 100 / self.fps))

    def add(self, frame: Image.Image) -> None:
        """Append one "P" frame drawn with the shared palette."""
        if self.previous is None:
            header, _ = GifImagePlugin.getheader(frame, info={"loop": 0, "duration": 1})
            self._write(list(header))
            box: tuple[int, int, int, int] | None = (0, 0, *frame.size)
        else:
            box = ImageChops.difference(frame, self.previous).getbbox()
        if box is None:
            box = (0, 0, 1, 1)  # nothing changed; the frame still takes its time
        part = frame.crop(box)
        part.putpalette(frame.getpalette() or [])
        self._write(GifImagePlugin.getdata(part, offset=box[:2], duration=self._delay_ms(),
                                           disposal=1))
        self.previous = frame
        self.count += 1

    def close(self) -> None:
        self._write([b";"])


class WebmWriter:
    """Pipes RGB frames into ffmpeg (VP9, fast real-time settings) and reads the file back."""

    def __init__(self, size: tuple[int, int], fps: float, max_bytes: int) -> None:
        self.size = size
        self.max_bytes = max_bytes
        handle, self.path = tempfile.mkstemp(prefix="raftviz-", suffix=".webm")
        os.close(handle)
        self.count = 0
        self._gen: Generator[Any, Any, Any] | None = imageio_ffmpeg.write_frames(
            self.path,
            size,
            fps=fps,
            codec="libvpx-vp9",
            pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p",
            macro_block_size=1,
            quality=None,
            ffmpeg_log_level="error",
            output_params=[
                "-deadline", "realtime", "-cpu-used", "8", "-row-mt", "1",
                "-b:v", "0", "-crf", "34", "-threads", "2",
            ],
        )
        self._gen.send(None)

    def add(self, frame: Image.Image) -> None:
        assert self._gen is not None
        self._gen.send(frame.tobytes())
        self.count += 1

    def finish(self) -> bytes:
        """Close ffmpeg and return the file's bytes."""
        self.abort(keep=True)
        try:
            if os.path.getsize(self.path) > self.max_bytes:
                raise OutputTooLarge(f"the WebM passed {self.max_bytes // 2**20} MiB")
            with open(self.path, "rb") as f:
                return f.read()
        finally:
            os.unlink(self.path)

    def abort(self, keep: bool = False) -> None:
        """Stop ffmpeg (and drop the file unless ``keep``)."""
        gen, self._gen = self._gen, None
        if gen is not None:
            gen.close()
        if not keep and os.path.exists(self.path):
            os.unlink(self.path)
