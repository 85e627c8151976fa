"""A scene as SVG text: one ``<g>`` per server, link and message, with classes and data
attributes a script (or a test) can count, and a ``<title>`` a screen reader can read."""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from raftviz.export.scene import (
    Arc,
    Circle,
    Group,
    Line,
    Polygon,
    Rect,
    Scene,
    Shape,
    Style,
    Text,
)

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
ANCHOR = {"start": "start", "middle": "middle", "end": "end"}


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _style(s: Style) -> str:
    parts = [f'fill="{s.fill or "none"}"']
    if s.stroke:
        parts.append(f'stroke="{s.stroke}" stroke-width="{_n(s.width)}"')
        if s.dash:
            parts.append(f'stroke-dasharray="{_n(s.dash[0])} {_n(s.dash[1])}"')
    return " ".join(parts)


def _shape(item: Shape) -> str:
    match item:
        case Rect():
            rx = f' rx="{_n(item.radius)}"' if item.radius else ""
            return (f'<rect x="{_n(item.x)}" y="{_n(item.y)}" width="{_n(item.w)}" '
                    f'height="{_n(item.h)}"{rx} {_style(item.style)}/>')
        case Circle():
            return (f'<circle cx="{_n(item.cx)}" cy="{_n(item.cy)}" r="{_n(item.r)}" '
                    f"{_style(item.style)}/>")
        case Line():
            return (f'<line x1="{_n(item.x1)}" y1="{_n(item.y1)}" x2="{_n(item.x2)}" '
                    f'y2="{_n(item.y2)}" {_style(item.style)} stroke-linecap="round"/>')
        case Polygon():
            points = " ".join(f"{_n(x)},{_n(y)}" for x, y in item.points)
            return f'<polygon points="{points}" {_style(item.style)} stroke-linejoin="round"/>'
        case Arc():
            if item.sweep >= 359.99:
                return (f'<circle cx="{_n(item.cx)}" cy="{_n(item.cy)}" r="{_n(item.r)}" '
                        f"{_style(item.style)}/>")
            (x1, y1), (x2, y2) = (arc_point(item, item.start),
                                  arc_point(item, item.start + item.sweep))
            large = 1 if item.sweep > 180 else 0
            return (f'<path d="M {_n(x1)} {_n(y1)} A {_n(item.r)} {_n(item.r)} 0 {large} 1 '
                    f'{_n(x2)} {_n(y2)}" {_style(item.style)} stroke-linecap="round"/>')
        case Text():
            weight = ' font-weight="700"' if item.bold else ""
            return (f'<text x="{_n(item.x)}" y="{_n(item.y)}" font-size="{_n(item.size)}" '
                    f'fill="{item.fill}" text-anchor="{ANCHOR[item.anchor]}"{weight}>'
                    f"{escape(item.text)}</text>")
    raise TypeError(f"not a shape: {item!r}")


def arc_point(arc: Arc, degrees: float) -> tuple[float, float]:
    """The point of ``arc``'s circle at ``degrees`` clockwise from twelve o'clock."""
    a = math.radians(degrees)
    return arc.cx + arc.r * math.sin(a), arc.cy - arc.r * math.cos(a)


def _group(g: Group, out: list[str]) -> None:
    attrs = f"class={quoteattr(g.cls)}"
    for key, value in g.data.items():
        attrs += f" data-{key}={quoteattr(value)}"
    if g.label:
        attrs += f" aria-label={quoteattr(g.label)}"
    out.append(f"<g {attrs}>")
    if g.label:
        out.append(f"<title>{escape(g.label)}</title>")
    for item in g.items:
        if isinstance(item, Group):
            _group(item, out)
        else:
            out.append(_shape(item))
    out.append("</g>")


def to_svg(scene: Scene) -> str:
    """A standalone SVG document (UTF-8 text) of ``scene``."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{scene.width}" height="{scene.height}" '
        f'viewBox="0 0 {scene.width} {scene.height}" role="img" font-family="{FONT}">',
        f"<title>{escape(scene.title)}</title>",
    ]
    _group(scene.root, out)
    out.append("</svg>")
    return "\n".join(out) + "\n"
