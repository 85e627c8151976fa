"""A drawing of one snapshot as plain shapes: the cluster ring and the logs table.

The scene is built once from a snapshot (raftviz/sim/snapshot.py, the page's own contract) and
then written out twice: as SVG text (raftviz/export/svg.py) and as pixels with Pillow
(raftviz/export/raster.py), so the two exports always show the same thing. Like the page, a
role is a shape *and* a word, never a colour alone: follower = circle, candidate = diamond,
pre-candidate = dashed diamond, leader = thick ring with a crown and "LEADER", crashed = grey
with an X and "CRASHED", paused = pause bars and "PAUSED". Messages in flight sit on their link
at the fraction of their trip they have made: circle = AppendEntries (small = heartbeat),
diamond = RequestVote, square = client traffic, hollow = a reply, dashed = will be lost; a
message lost in the last moments is a red X marked "lost" where it died. As on the page, an arc
around a server shows how far its election timer has run (grey, the candidate colour near the
end) and an outer arc a leader's remaining lease.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# The page's palette (static/css/app.css), so slides look like the lab.
INK = "#1b2230"
MUTED = "#5a6476"
FAINT = "#8a93a3"
LINE = "#d8dde5"
PANEL = "#ffffff"
BG = "#eef1f5"
LEADER = "#0d7268"
LEADER_FILL = "#dcf2ee"
CROWN = "#d4a106"
CANDIDATE = "#b45309"
CANDIDATE_FILL = "#fff1dc"
FOLLOWER = "#4a5568"
CRASHED = "#98a1ae"
CRASHED_FILL = "#e7e9ed"
PAUSED = "#6b3fd4"
DANGER = "#c62828"
DANGER_SOFT = "#fdecec"
OK = "#1b7f3b"
K_APPEND = "#2f5fd0"
K_VOTE = "#c05a0c"
K_CLIENT = "#0b8a63"
TIMER = "#8d99ab"
# Committed log cells are tinted by term (the term number is written in the cell too).
TERM_TINTS = ("#dbe6fb", "#fde7cf", "#d7f0e4", "#efdcf7", "#fbe0e0", "#e0f1f7", "#f4efcf")

PALETTE = (
    INK, MUTED, FAINT, LINE, PANEL, BG, LEADER, LEADER_FILL, CROWN, CANDIDATE, CANDIDATE_FILL,
    FOLLOWER, CRASHED, CRASHED_FILL, PAUSED, DANGER, DANGER_SOFT, OK, K_APPEND, K_VOTE, K_CLIENT,
    TIMER, *TERM_TINTS,
)

ROLE_WORD = {
    "follower": "follower",
    "pre-candidate": "pre-candidate",
    "candidate": "candidate",
    "leader": "LEADER",
    "crashed": "CRASHED",
}

VOTE_KINDS = {"RequestVote", "RequestVoteReply", "Prepare", "Promise", "Nack"}
CLIENT_KINDS = {"ClientRequest", "ClientReply"}
KIND_SHORT = {
    "AppendEntries": "AE",
    "AppendEntriesReply": "AE reply",
    "RequestVote": "RV",
    "RequestVoteReply": "RV reply",
    "ClientRequest": "client",
    "ClientReply": "client reply",
}
MAX_LABELLED_MESSAGES = 16  # past this, message labels would bury the ring
LOST_SHOWN_MS = 400.0  # a lost message is marked where it died for this long (as on the page)
LATE_TIMER = 0.8  # an election timer past this fraction is drawn in the candidate colour


@dataclass(frozen=True, slots=True)
class Style:
    fill: str | None = None
    stroke: str | None = None
    width: float = 0.0
    dash: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    style: Style
    radius: float = 0.0


@dataclass(frozen=True, slots=True)
class Circle:
    cx: float
    cy: float
    r: float
    style: Style


@dataclass(frozen=True, slots=True)
class Line:
    x1: float
    y1: float
    x2: float
    y2: float
    style: Style


@dataclass(frozen=True, slots=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    style: Style


@dataclass(frozen=True, slots=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float
    fill: str = INK
    anchor: str = "start"  # start | middle | end
    bold: bool = False


@dataclass(frozen=True, slots=True)
class Arc:
    """An open arc from ``start`` degrees (0 = twelve o'clock) clockwise through ``sweep``."""

    cx: float
    cy: float
    r: float
    start: float
    sweep: float
    style: Style


Shape = Rect | Circle | Line | Polygon | Text | Arc


@dataclass(slots=True)
class Group:
    """Shapes that belong together; ``cls`` and ``data`` become SVG attributes (for tests,
    scripts and screen readers), ``label`` an SVG title."""

    cls: str
    data: dict[str, str] = field(default_factory=dict)
    label: str = ""
    items: list[Shape | Group] = field(default_factory=list)
    # Part of the backdrop: drawn beneath everything else, and the same from one animation
    # frame to the next most of the time (the raster writer draws it once and reuses it).
    backdrop: bool = False

    def add(self, item: Shape | Group) -> Shape | Group:
        self.items.append(item)
        return item


@dataclass(slots=True)
class Scene:
    width: int
    height: int
    root: Group
    title: str

    def shapes(self, backdrop: bool | None = None) -> list[Shape]:
        """Every shape in drawing order (the raster writer needs no groups); only those of
        the backdrop (True) or only the rest (False) when ``backdrop`` is given."""
        out: list[Shape] = []
        stack: list[tuple[Shape | Group, bool]] = [(self.root, self.root.backdrop)]
        while stack:
            item, under = stack.pop()
            if isinstance(item, Group):
                inner = under or item.backdrop
                stack.extend((child, inner) for child in reversed(item.items))
            elif backdrop is None or backdrop == under:
                out.append(item)
        return out


@dataclass(frozen=True, slots=True)
class Caption:
    """What an animation frame adds to the drawing: where it is in the exported range."""

    start: float
    end: float
    index: int
    frames: int


def build_scene(
    snap: dict[str, Any], width: int, height: int, caption: Caption | None = None
) -> Scene:
    """The whole slide for one snapshot at ``width`` x ``height`` pixels."""
    u = height / 1080.0
    root = Group("raftviz-export", {"version": str(snap.get("version", 0))})
    root.add(Group("background", backdrop=True, items=[Rect(0, 0, width, height, Style(fill=BG))]))
    title = _header(root, snap, width, u)
    split = round(width * 0.56)
    top, bottom = round(100 * u), height - round(96 * u)
    _cluster(root, snap, 0, top, split, bottom - top, u)
    _logs(root, snap, split + round(16 * u), top, width - split - round(40 * u), bottom - top, u)
    _footer(root, snap, width, height, u, caption)
    return Scene(width, height, root, title)


# ------------------------------------------------------------------- header


def _header(root: Group, snap: dict[str, Any], width: int, u: float) -> str:
    g = Group("header")
    root.add(g)
    protocol = "Multi-Paxos" if snap.get("protocol") == "paxos" else "Raft"
    nodes = snap.get("nodes", [])
    title = f"raftviz · {protocol} · {len(nodes)} servers · seed {snap.get('seed', 0)}"
    g.add(Text(40 * u, 52 * u, title, 34 * u, INK, bold=True))
    g.add(Text(width - 40 * u, 52 * u, f"t = {_ms(snap.get('time', 0.0))}", 34 * u, INK,
               "end", bold=True))
    term = max((n.get("term") or 0 for n in nodes), default=0)
    leader = snap.get("leader") or "none"
    messages = len(snap.get("messages", []))
    word = "ballot round" if snap.get("protocol") == "paxos" else "term"
    line = f"leader {leader} · highest {word} {term} · {messages} messages in flight"
    groups = snap.get("network", {}).get("groups") or []
    if groups:
        line += " · partitioned " + " | ".join("{" + ", ".join(grp) + "}" for grp in groups)
    g.add(Text(40 * u, 86 * u, line, 24 * u, MUTED))
    return f"{title} at t = {_ms(snap.get('time', 0.0))}"


def _ms(value: float) -> str:
    return f"{value:,.1f} ms"


# ------------------------------------------------------------------ cluster


def _cut_pairs(snap: dict[str, Any]) -> set[frozenset[str]]:
    """Links that carry nothing: across partition groups, or cut one by one."""
    net = snap.get("network", {})
    side: dict[str, int] = {}
    for i, grp in enumerate(net.get("groups") or []):
        for node in grp:
            side[node] = i
    ids = [n["id"] for n in snap.get("nodes", [])]
    cut = {frozenset(link) for link in net.get("cut") or []}
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            if a in side and b in side and side[a] != side[b]:
                cut.add(frozenset((a, b)))
    return cut


def ring_positions(
    ids: list[str], cx: float, cy: float, radius: float
) -> dict[str, tuple[float, float]]:
    """Servers clockwise from the top, as on the page."""
    n = max(len(ids), 1)
    angles = {node: 2 * math.pi * i / n for i, node in enumerate(ids)}
    return {n_: (cx + radius * math.sin(a), cy - radius * math.cos(a)) for n_, a in angles.items()}


def _cluster(root: Group, snap: dict[str, Any], x: float, y: float, w: float, h: float,
             u: float) -> None:
    panel = Group("cluster")
    root.add(panel)
    panel.add(Group("panel", backdrop=True,
                    items=[Rect(x + 24 * u, y, w - 24 * u, h, Style(PANEL, LINE, 2 * u), 14 * u)]))
    nodes = snap.get("nodes", [])
    ids = [n["id"] for n in nodes]
    cx, cy = x + 12 * u + w / 2, y + h / 2 + 4 * u
    ring = min(w, h) / 2 - 120 * u
    pos = ring_positions(ids, cx, cy, ring)
    n = max(len(ids), 1)
    r_node = min(62 * u, ring * math.sin(math.pi / n) * 0.55) if n > 1 else 62 * u
    cut = _cut_pairs(snap)
    links = Group("links", backdrop=True)
    panel.add(links)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            broken = frozenset((a, b)) in cut
            lg = links.add(Group("link cut" if broken else "link", {"a": a, "b": b},
                                 f"link {a} - {b}" + (" (cut)" if broken else "")))
            assert isinstance(lg, Group)
            if broken:
                lg.add(Line(x1, y1, x2, y2, Style(stroke=DANGER, width=2.5 * u,
                                                  dash=(10 * u, 8 * u))))
                mx, my, k = (x1 + x2) / 2, (y1 + y2) / 2, 9 * u
                lg.add(Circle(mx, my, 15 * u, Style(PANEL, DANGER, 2.5 * u)))
                lg.add(Line(mx - k, my - k, mx + k, my + k, Style(stroke=DANGER, width=3.5 * u)))
                lg.add(Line(mx - k, my + k, mx + k, my - k, Style(stroke=DANGER, width=3.5 * u)))
            else:
                lg.add(Line(x1, y1, x2, y2, Style(stroke=LINE, width=2.5 * u)))
    # Clients sit together at the centre of the ring, as on the page.
    links.add(Group("hub", items=[
        Rect(cx - 48 * u, cy - 18 * u, 96 * u, 36 * u, Style(BG, FAINT, 2 * u, (6 * u, 4 * u)),
             8 * u),
        Text(cx, cy + 7 * u, "clients", 19 * u, MUTED, "middle", bold=True),
    ]))
    hub = (cx, cy)
    messages = snap.get("messages", [])
    mg = Group("messages", {"count": str(len(messages))})
    panel.add(mg)
    labelled = len(messages) <= MAX_LABELLED_MESSAGES
    for m in messages:
        a, b = pos.get(m.get("from"), hub), pos.get(m.get("to"), hub)
        if a != b:
            mg.add(_message(m, a, b, r_node, u, labelled))
    now = float(snap.get("time", 0.0))
    lost = [d for d in snap.get("dropped", []) if now - float(d.get("lost_at", 0.0))
            <= LOST_SHOWN_MS]
    lg = Group("lost", {"count": str(len(lost))})
    panel.add(lg)
    for d in lost:
        a, b = pos.get(d.get("from"), hub), pos.get(d.get("to"), hub)
        if a != b:
            lg.add(_lost(d, a, b, r_node, u))
    base = float((snap.get("settings") or {}).get("election_timeout_min") or 150)
    for node in nodes:
        timers = _timers(node, pos[node["id"]], r_node, u, base)
        if timers.items:
            panel.add(timers)
        panel.add(_node(node, snap, pos[node["id"]], r_node, u))


def _lost(d: dict[str, Any], a: tuple[float, float], b: tuple[float, float], r_node: float,
          u: float) -> Group:
    """A red X where the message died, at the share of its trip it had made (as the page),
    on the link between the two servers' edges (the legend says what the X means)."""
    sent, deliver = float(d.get("sent", 0.0)), float(d.get("deliver", 0.0))
    span = deliver - sent
    p = min(0.8, max(0.1, (float(d.get("lost_at", 0.0)) - sent) / span if span > 0 else 0.8))
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    inset = r_node + 16 * u
    along = inset + max(length - 2 * inset, 0.0) * p
    x, y = a[0] + dx / length * along, a[1] + dy / length * along
    kind = str(d.get("kind", ""))
    return Group("lost-message", {"id": str(d.get("id", "")), "kind": kind},
                 f"{kind} {d.get('from')} → {d.get('to')} lost: {d.get('why') or 'dropped'}",
                 _cross(x, y, 10 * u, Style(stroke=DANGER, width=5 * u)))


def _cross(x: float, y: float, k: float, style: Style) -> list[Shape | Group]:
    return [Line(x - k, y - k, x + k, y + k, style), Line(x + k, y - k, x - k, y + k, style)]


def _timers(node: dict[str, Any], at: tuple[float, float], r: float, u: float,
            base: float) -> Group:
    """The election timer's arc, and a leader's lease outside it (drawn under the server)."""
    x, y = at
    g = Group("timers", {"node": str(node["id"])})
    election = node.get("election")
    if election and node.get("state") == "up" and float(election.get("timeout") or 0) > 0:
        f = min(1.0, float(election.get("elapsed", 0.0)) / float(election["timeout"]))
        color = CANDIDATE if f > LATE_TIMER else TIMER
        g.data["election"] = f"{f:.3f}"
        g.add(Arc(x, y, r + 14 * u, 0.0, 360.0 * f, Style(stroke=color, width=7 * u)))
    lease = float((node.get("leader_state") or {}).get("lease_remaining") or 0.0)
    if lease > 0:
        f = min(1.0, lease / base)
        g.data["lease"] = f"{f:.3f}"
        g.add(Arc(x, y, r + 26 * u, 0.0, 360.0 * f, Style(stroke=LEADER, width=5 * u)))
    if g.data.get("election") or g.data.get("lease"):
        parts = []
        if "election" in g.data:
            parts.append(f"election timer {float(g.data['election']):.0%} run")
        if "lease" in g.data:
            parts.append(f"lease {lease:.0f} ms left")
        g.label = f"{node['id']}: " + ", ".join(parts)
    return g


def _message(m: dict[str, Any], a: tuple[float, float], b: tuple[float, float], r_node: float,
             u: float, labelled: bool) -> Group:
    kind = str(m.get("kind", ""))
    reply = bool(m.get("reply"))
    doomed = bool(m.get("doomed"))
    summary = str(m.get("summary", ""))
    heartbeat = kind == "AppendEntries" and "heartbeat" in summary
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    inset = r_node + 10 * u
    p = min(max(float(m.get("progress", 0.0)), 0.0), 1.0)
    travel = max(length - 2 * inset, 0.0)
    side = 9 * u  # requests and replies keep to their own side of a link, as on the page
    x = a[0] + ux * (inset + travel * p) - uy * side
    y = a[1] + uy * (inset + travel * p) + ux * side
    color = K_VOTE if kind in VOTE_KINDS else K_CLIENT if kind in CLIENT_KINDS else K_APPEND
    style = Style(PANEL if reply else color, color, (4.0 if reply else 2.0) * u,
                  (4 * u, 3 * u) if doomed else None)
    size = (7 if heartbeat else 11) * u
    g = Group(
        "message" + (" reply" if reply else "") + (" doomed" if doomed else ""),
        {"id": str(m.get("id", "")), "kind": kind, "from": str(m.get("from")),
         "to": str(m.get("to"))},
        f"{kind} {m.get('from')} → {m.get('to')}: {summary}"
        + (" (will be lost)" if doomed else ""),
    )
    if kind in VOTE_KINDS:
        d = size * 1.35
        g.add(Polygon(((x, y - d), (x + d, y), (x, y + d), (x - d, y)), style))
    elif kind in CLIENT_KINDS:
        g.add(Rect(x - size, y - size, 2 * size, 2 * size, style))
    else:
        g.add(Circle(x, y, size, style))
    if labelled:
        g.add(Text(x + size + 6 * u, y - size, KIND_SHORT.get(kind, kind), 19 * u, color,
                   bold=True))
    return g


def _role_word(node: dict[str, Any], snap: dict[str, Any]) -> str:
    role = node.get("role", "follower")
    if node.get("state") == "crashed" or role == "crashed":
        return "CRASHED"
    if snap.get("protocol") == "paxos":
        phase = (node.get("paxos") or {}).get("phase")
        if role == "leader":
            return "LEADER (proposer)"
        return "PROPOSER" if phase in ("prepare", "accept") else "acceptor"
    return ROLE_WORD.get(role, str(role))


def _node(node: dict[str, Any], snap: dict[str, Any], at: tuple[float, float], r: float,
          u: float) -> Group:
    x, y = at
    role = str(node.get("role", "follower"))
    state = str(node.get("state", "up"))
    word = _role_word(node, snap)
    if state == "paused":
        word = f"PAUSED · {word}"
    term = node.get("term", 0)
    g = Group(
        f"node role-{role} state-{state}",
        {"node": str(node["id"]), "role": role, "state": state, "term": str(term)},
        f"{node['id']}: {word}, term {term}",
    )
    if state == "crashed":
        g.add(Circle(x, y, r, Style(CRASHED_FILL, CRASHED, 4 * u, (9 * u, 6 * u))))
        k = r * 0.62
        g.add(Line(x - k, y - k, x + k, y + k, Style(stroke=CRASHED, width=7 * u)))
        g.add(Line(x + k, y - k, x - k, y + k, Style(stroke=CRASHED, width=7 * u)))
    elif role in ("candidate", "pre-candidate"):
        d = r * 1.22
        dash = (12 * u, 7 * u) if role == "pre-candidate" else None
        g.add(Polygon(((x, y - d), (x + d, y), (x, y + d), (x - d, y)),
                      Style(CANDIDATE_FILL, CANDIDATE, 5 * u, dash)))
    elif role == "leader":
        g.add(Circle(x, y, r, Style(LEADER_FILL, LEADER, 9 * u)))
        c = r / 34
        top = y - r - 12 * c
        crown = (
            (x - 13 * c, top), (x - 13 * c, top - 13 * c), (x - 6.5 * c, top - 7 * c),
            (x, top - 16 * c), (x + 6.5 * c, top - 7 * c), (x + 13 * c, top - 13 * c),
            (x + 13 * c, top),
        )
        g.add(Polygon(crown, Style(CROWN, INK, 1.5 * u)))
    else:
        g.add(Circle(x, y, r, Style(PANEL, FOLLOWER, 4 * u)))
    ink = CRASHED if state == "crashed" else INK
    g.add(Text(x, y + r * 0.2, str(node["id"]), r * 0.56, ink, "middle", bold=True))
    if state == "paused":
        px, py = x + r * 0.8, y - r * 0.8
        g.add(Circle(px, py, 17 * u, Style(PAUSED, PANEL, 2 * u)))
        g.add(Rect(px - 8 * u, py - 9 * u, 5.5 * u, 18 * u, Style(PANEL)))
        g.add(Rect(px + 2.5 * u, py - 9 * u, 5.5 * u, 18 * u, Style(PANEL)))
    fs = 25 * u
    word_color = LEADER if role == "leader" else CANDIDATE if "candidate" in role else (
        PAUSED if state == "paused" else MUTED)
    g.add(Text(x, y + r + 12 * u + fs, word, fs, word_color, "middle", bold=True))
    if snap.get("protocol") == "paxos":
        promised = (node.get("paxos") or {}).get("promised_ballot") or "none"
        detail = f"promised {promised}"
    else:
        detail = f"term {term}"
        if role in ("candidate", "pre-candidate") and state != "crashed":
            majority = len(snap.get("nodes", [])) // 2 + 1
            detail += f" · {len(node.get('votes') or [])}/{majority} votes"
    g.add(Text(x, y + r + 16 * u + 2 * fs, detail, fs * 0.9, MUTED, "middle"))
    return g


# --------------------------------------------------------------------- logs


def _logs(root: Group, snap: dict[str, Any], x: float, y: float, w: float, h: float,
          u: float) -> None:
    panel = Group("logs")
    root.add(panel)
    panel.add(Group("panel", backdrop=True,
                    items=[Rect(x, y, w, h, Style(PANEL, LINE, 2 * u), 14 * u)]))
    nodes = snap.get("nodes", [])
    paxos = snap.get("protocol") == "paxos"
    label_w = 215 * u  # "pre-candidate · commit 1234" at 17 px
    cell = 52 * u
    pad = 24 * u
    columns = max(int((w - label_w - 2 * pad) // cell), 1)
    last = max((int(n.get("log_length") or 0) for n in nodes), default=0)
    first = max(1, last - columns + 1)
    head = "Slots (accepted, by ballot round)" if paxos else "Logs (entry term per index)"
    span = f"entries {first}–{last} of {last}" if last else "empty"
    panel.add(Text(x + pad, y + 44 * u, head, 28 * u, INK, bold=True))
    panel.add(Text(x + w - pad, y + 44 * u, span, 22 * u, MUTED, "end"))
    gx = x + pad + label_w
    top = y + 92 * u
    for i in range(first, last + 1):
        panel.add(Text(gx + (i - first + 0.5) * cell, top - 10 * u, str(i), 18 * u, FAINT,
                       "middle"))
    row_h = min(78 * u, (h - (top - y) - 150 * u) / max(len(nodes), 1))
    for k, node in enumerate(nodes):
        ry = top + k * row_h
        panel.add(_log_row(node, snap, x + pad, gx, ry, row_h, cell, first, last, u))
    legend_y = top + len(nodes) * row_h + 44 * u
    lg = Group("logs-legend", backdrop=True)
    panel.add(lg)
    lx = x + pad
    lg.add(Rect(lx, legend_y - 24 * u, 34 * u, 30 * u, Style(TERM_TINTS[0], INK, 2 * u)))
    lg.add(Text(lx + 44 * u, legend_y, "committed", 20 * u, MUTED))
    lx += 190 * u
    lg.add(Rect(lx, legend_y - 24 * u, 34 * u, 30 * u, Style(PANEL, FAINT, 2 * u, (5 * u, 4 * u))))
    lg.add(Text(lx + 44 * u, legend_y, "not committed yet", 20 * u, MUTED))
    if not paxos:
        lx += 250 * u
        lg.add(Rect(lx, legend_y - 24 * u, 34 * u, 30 * u, Style(DANGER_SOFT, DANGER, 3 * u)))
        lg.add(Text(lx + 17 * u, legend_y - 2 * u, "≠", 22 * u, DANGER, "middle", bold=True))
        lg.add(Text(lx + 44 * u, legend_y, "differs from leader", 20 * u, MUTED))


def _log_row(node: dict[str, Any], snap: dict[str, Any], lx: float, gx: float, y: float,
             row_h: float, cell: float, first: int, last: int, u: float) -> Group:
    state = str(node.get("state", "up"))
    commit = int(node.get("commit_index") or 0)
    diverge = node.get("diverge_from")
    paxos = snap.get("protocol") == "paxos"
    chosen = set((node.get("paxos") or {}).get("chosen") or [])
    entries = node.get("log") or []
    g = Group("log-row", {"node": str(node["id"]), "entries": str(len(entries)),
                          "commit": str(commit)},
              f"{node['id']}: {len(entries)} entries, commit index {commit}")
    cy = y + row_h / 2
    word = _role_word(node, snap)
    ink = CRASHED if state == "crashed" else INK
    g.add(Text(lx, cy + 2 * u, str(node["id"]), 26 * u, ink, bold=True))
    short = word if len(word) < 12 else word.split(" ")[0]
    g.add(Text(lx, cy + 26 * u, f"{short} · commit {commit}", 17 * u, MUTED))
    size = min(cell - 8 * u, row_h - 14 * u)
    for entry in entries:
        index = int(entry[0])
        if index < first or index > last:
            continue
        term = int(entry[1])
        cx = gx + (index - first) * cell + (cell - size) / 2
        top = cy - size / 2
        committed = index <= commit or (paxos and index in chosen)
        differs = diverge is not None and index >= int(diverge)
        if differs:
            style = Style(DANGER_SOFT, DANGER, 3 * u)
        elif committed:
            style = Style(TERM_TINTS[term % len(TERM_TINTS)], INK, 2 * u)
        else:
            style = Style(PANEL, FAINT, 2 * u, (5 * u, 4 * u))
        g.add(Rect(cx, top, size, size, style, 5 * u))
        g.add(Text(cx + size / 2, cy + 8 * u, str(term), 22 * u,
                   DANGER if differs else INK, "middle", bold=committed))
    if state == "crashed":
        g.add(Text(gx - 10 * u, cy + 8 * u, "✕", 22 * u, CRASHED, "end", bold=True))
    return g


# ------------------------------------------------------------------- footer


def _footer(root: Group, snap: dict[str, Any], width: int, height: int, u: float,
            caption: Caption | None) -> None:
    footer = Group("footer")
    root.add(footer)
    g = Group("legend", backdrop=True)
    footer.add(g)
    y = height - 56 * u
    x = 40 * u
    fs = 21 * u
    paxos = snap.get("protocol") == "paxos"
    items: list[tuple[str, str]] = [
        ("circle", "Accept, Accepted, Learn" if paxos else "AppendEntries"),
        ("diamond", "Prepare, Promise, Nack" if paxos else "RequestVote"),
        ("square", "client"), ("hollow", "reply"), ("dashed", "will be lost"),
        ("lost", "lost"), ("cut", "link cut"),
    ]
    for shape, label in items:
        s = 11 * u
        if shape == "circle":
            g.add(Circle(x + s, y - s / 2, s, Style(K_APPEND, K_APPEND, 2 * u)))
        elif shape == "diamond":
            d = s * 1.3
            c = (x + s, y - s / 2)
            g.add(Polygon(((c[0], c[1] - d), (c[0] + d, c[1]), (c[0], c[1] + d), (c[0] - d, c[1])),
                          Style(K_VOTE, K_VOTE, 2 * u)))
        elif shape == "square":
            g.add(Rect(x, y - 1.5 * s, 2 * s, 2 * s, Style(K_CLIENT, K_CLIENT, 2 * u)))
        elif shape == "hollow":
            g.add(Circle(x + s, y - s / 2, s, Style(PANEL, K_APPEND, 4 * u)))
        elif shape == "dashed":
            g.add(Circle(x + s, y - s / 2, s, Style(K_APPEND, K_APPEND, 2 * u, (4 * u, 3 * u))))
        elif shape == "lost":
            for item in _cross(x + s, y - s / 2, s * 0.9, Style(stroke=DANGER, width=4 * u)):
                g.add(item)
        else:
            g.add(Line(x - 4 * u, y - s / 2, x + 2 * s + 4 * u, y - s / 2,
                       Style(stroke=DANGER, width=3 * u, dash=(8 * u, 5 * u))))
        g.add(Text(x + 2 * s + 12 * u, y + 2 * u, label, fs, MUTED))
        x += 2 * s + 36 * u + len(label) * fs * 0.62
    if caption is not None:
        bar_x, bar_w = width * 0.71, width * 0.29 - 40 * u
        done = (caption.index + 1) / max(caption.frames, 1)
        bar = Group("range", {"frame": str(caption.index), "frames": str(caption.frames)})
        footer.add(bar)
        bar.add(Rect(bar_x, y - 16 * u, bar_w, 14 * u, Style(LINE), 7 * u))
        bar.add(Rect(bar_x, y - 16 * u, max(bar_w * done, 14 * u), 14 * u, Style(K_APPEND),
                     7 * u))
        bar.add(Text(bar_x + bar_w, y + 30 * u,
                     f"range {_ms(caption.start)} – {_ms(caption.end)}", 19 * u, MUTED, "end"))
