"""A scene as pixels, drawn with Pillow (PNG slides and the frames of GIF and WebM clips).

Pillow draws without antialiasing, so a still is drawn at twice its size and scaled down
(smooth edges for a projector); animation frames are drawn at their own size (speed), and
GIF frames use the scene's fixed palette so no frame needs colour quantising.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from raftviz.export.scene import (
    PALETTE,
    Arc,
    Circle,
    Line,
    Polygon,
    Rect,
    Scene,
    Shape,
    Style,
    Text,
)

Point = tuple[float, float]


FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


@lru_cache(maxsize=128)
def _font(size: int, bold: bool) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """DejaVu Sans (Debian's fonts-dejavu-core) when installed, else Pillow's bundled font;
    the second value says whether boldness must be faked with a stroke."""
    try:
        return ImageFont.truetype(FONT_FILES[bold], size), False
    except OSError:
        return ImageFont.load_default(size), bold


def _dashes(points: list[Point], dash: tuple[float, float]) -> list[tuple[Point, Point]]:
    """The visible pieces of a dashed polyline."""
    on, off = dash
    pieces: list[tuple[Point, Point]] = []
    phase = 0.0  # distance into the current on+off period
    for (x1, y1), (x2, y2) in zip(points, points[1:], strict=False):
        length = math.hypot(x2 - x1, y2 - y1)
        pos = 0.0
        while pos < length:
            if phase < on:
                step = min(on - phase, length - pos)
                a, b = pos / length, (pos + step) / length
                pieces.append(((x1 + (x2 - x1) * a, y1 + (y2 - y1) * a),
                               (x1 + (x2 - x1) * b, y1 + (y2 - y1) * b)))
            else:
                step = min(on + off - phase, length - pos)
            pos += step
            phase = (phase + step) % (on + off)
    return pieces


class Painter:
    """Draws shapes on one image at ``scale`` pixels per scene unit."""

    def __init__(self, image: Image.Image, scale: float) -> None:
        self.image = image
        self.draw = ImageDraw.Draw(image)
        self.k = scale

    def ink(self, color: str) -> str | int:
        if self.image.mode == "P":
            return PALETTE.index(color)
        return color

    def outline(self, points: list[Point], style: Style, closed: bool) -> None:
        if not style.stroke or style.width <= 0:
            return
        pts = [(x * self.k, y * self.k) for x, y in points]
        if closed:
            pts.append(pts[0])
        width = max(round(style.width * self.k), 1)
        color = self.ink(style.stroke)
        if style.dash:
            dash = (style.dash[0] * self.k, style.dash[1] * self.k)
            for a, b in _dashes(pts, dash):
                self.draw.line([a, b], fill=color, width=width)
        else:
            self.draw.line(pts, fill=color, width=width, joint="curve")

    def rect(self, r: Rect) -> None:
        k, s = self.k, r.style
        box = (r.x * k, r.y * k, (r.x + r.w) * k, (r.y + r.h) * k)
        solid = s.stroke and not s.dash
        fill = self.ink(s.fill) if s.fill else None
        outline = self.ink(s.stroke) if solid and s.stroke else None
        width = max(round(s.width * k), 1) if solid else 0
        if r.radius:
            self.draw.rounded_rectangle(box, r.radius * k, fill=fill, outline=outline, width=width)
        else:
            self.draw.rectangle(box, fill=fill, outline=outline, width=width)
        if s.dash:
            corners = [(r.x, r.y), (r.x + r.w, r.y), (r.x + r.w, r.y + r.h), (r.x, r.y + r.h)]
            self.outline(corners, s, closed=True)

    def circle(self, c: Circle) -> None:
        k, s = self.k, c.style
        box = ((c.cx - c.r) * k, (c.cy - c.r) * k, (c.cx + c.r) * k, (c.cy + c.r) * k)
        solid = s.stroke and not s.dash
        self.draw.ellipse(
            box,
            fill=self.ink(s.fill) if s.fill else None,
            outline=self.ink(s.stroke) if solid and s.stroke else None,
            width=max(round(s.width * k), 1) if solid else 0,
        )
        if s.dash:
            steps = max(int(2 * math.pi * c.r * k / 4), 24)
            ring = [(c.cx + c.r * math.cos(2 * math.pi * i / steps),
                     c.cy + c.r * math.sin(2 * math.pi * i / steps)) for i in range(steps)]
            self.outline(ring, s, closed=True)

    def polygon(self, p: Polygon) -> None:
        if p.style.fill:
            self.draw.polygon([(x * self.k, y * self.k) for x, y in p.points],
                              fill=self.ink(p.style.fill))
        self.outline(list(p.points), p.style, closed=True)

    def arc(self, a: Arc) -> None:
        """Pillow counts angles from three o'clock; the scene from twelve."""
        if a.sweep <= 0 or not a.style.stroke:
            return
        k = self.k
        box = ((a.cx - a.r) * k, (a.cy - a.r) * k, (a.cx + a.r) * k, (a.cy + a.r) * k)
        width = max(round(a.style.width * k), 1)
        # Pillow draws the stroke inside the box: grow it by half the width to centre it.
        half = width / 2
        box = (box[0] - half, box[1] - half, box[2] + half, box[3] + half)
        self.draw.arc(box, a.start - 90, a.start - 90 + min(a.sweep, 360.0),
                      fill=self.ink(a.style.stroke), width=width)

    def text(self, t: Text) -> None:
        size = max(round(t.size * self.k), 6)
        anchor = {"start": "ls", "middle": "ms", "end": "rs"}[t.anchor]
        color = self.ink(t.fill)
        font, fake_bold = _font(size, t.bold)
        self.draw.text(
            (t.x * self.k, t.y * self.k), t.text, fill=color, font=font, anchor=anchor,
            stroke_width=max(round(size / 24), 1) if fake_bold else 0,
            stroke_fill=color if fake_bold else None,
        )

    def paint(self, shapes: list[Shape]) -> None:
        for shape in shapes:
            match shape:
                case Rect():
                    self.rect(shape)
                case Circle():
                    self.circle(shape)
                case Line():
                    self.outline([(shape.x1, shape.y1), (shape.x2, shape.y2)], shape.style,
                                 closed=False)
                case Polygon():
                    self.polygon(shape)
                case Text():
                    self.text(shape)
                case Arc():
                    self.arc(shape)


def palette_image() -> Image.Image:
    """A "P" image holding the scene palette (for drawing GIF frames without quantising)."""
    flat: list[int] = []
    for color in PALETTE:
        flat += [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    image = Image.new("P", (1, 1))
    image.putpalette(flat + [0] * (768 - len(flat)))
    return image


class Backdrops:
    """The last backdrop drawn (background, panels, links, legends), reused while it stays
    the same: consecutive animation frames mostly differ only in messages and labels."""

    def __init__(self) -> None:
        self.key: tuple[str, tuple[int, int], tuple[Shape, ...]] | None = None
        self.image: Image.Image | None = None

    def base(self, scene: Scene, mode: str) -> Image.Image:
        shapes = tuple(scene.shapes(backdrop=True))
        key = (mode, (scene.width, scene.height), shapes)
        if self.image is None or key != self.key:
            self.image = _blank(scene, mode)
            Painter(self.image, 1).paint(list(shapes))
            self.key = key
        return self.image.copy()


def _blank(scene: Scene, mode: str) -> Image.Image:
    if mode == "P":
        image = Image.new("P", (scene.width, scene.height), 0)
        image.putpalette(palette_image().getpalette() or [])
        return image
    return Image.new("RGB", (scene.width, scene.height), "white")


def render_rgb(scene: Scene, supersample: int = 1, backdrops: Backdrops | None = None
               ) -> Image.Image:
    """The scene as an RGB image; ``supersample`` > 1 draws larger and scales down (smooth)."""
    k = max(int(supersample), 1)
    if k == 1 and backdrops is not None:
        image = backdrops.base(scene, "RGB")
        Painter(image, 1).paint(scene.shapes(backdrop=False))
        return image
    image = Image.new("RGB", (scene.width * k, scene.height * k), "white")
    Painter(image, k).paint(scene.shapes())
    if k > 1:
        image = image.resize((scene.width, scene.height), Image.Resampling.LANCZOS)
    return image


def render_palette(scene: Scene, backdrops: Backdrops | None = None) -> Image.Image:
    """The scene drawn straight into the fixed palette ("P" mode), for GIF frames."""
    if backdrops is not None:
        image = backdrops.base(scene, "P")
        Painter(image, 1).paint(scene.shapes(backdrop=False))
        return image
    image = _blank(scene, "P")
    Painter(image, 1).paint(scene.shapes())
    return image


def to_png(scene: Scene) -> bytes:
    buf = io.BytesIO()
    render_rgb(scene, supersample=2).save(buf, format="PNG", optimize=False)
    return buf.getvalue()
