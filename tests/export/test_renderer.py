"""The export renderer against real runs: what it draws is counted against the snapshot."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from typing import Any

import imageio_ffmpeg
import pytest
from PIL import Image, ImageChops

from raftviz.export.jobs import ClipJob, ExportError, parse_request, render_still
from raftviz.export.raster import Backdrops, render_palette, render_rgb
from raftviz.export.replay import replica
from raftviz.export.scene import build_scene
from raftviz.export.svg import to_svg
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.history import History, leader_exists
from raftviz.sim.snapshot import snapshot

SVG = "{http://www.w3.org/2000/svg}"


def crash_with_partition() -> History:
    """A leader is elected, cut off with one follower, then crashes; the rest elect anew."""
    h = History(ClusterConfig(size=5, seed=3))
    assert h.run_until_condition(leader_exists, 5000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    h.run_for(300)
    leader = h.cluster.leader
    assert leader is not None
    others = [n for n in h.cluster.hosts if n != leader]
    h.apply_json({"type": "partition", "groups": [[leader, others[0]], others[1:]]})
    h.run_for(150)
    h.apply_json({"type": "crash", "node": leader})
    h.apply_json({"type": "pause", "node": others[0]})
    h.run_for(40)
    return h


def parse(svg_text: str) -> ET.Element:
    return ET.fromstring(svg_text.encode())


def groups(root: ET.Element, cls: str) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if cls in (g.get("class") or "").split()]


def texts(g: ET.Element) -> list[str]:
    return [t.text or "" for t in g.iter(f"{SVG}text")]


@pytest.fixture(scope="module")
def run() -> History:
    return crash_with_partition()


def test_svg_has_one_node_per_server_with_its_role_and_term(run: History) -> None:
    snap = snapshot(run.cluster)
    root = parse(to_svg(build_scene(snap, 1920, 1080)))
    nodes = groups(root, "node")
    assert [g.get("data-node") for g in nodes] == [n["id"] for n in snap["nodes"]]
    words = {"leader": "LEADER", "candidate": "candidate", "follower": "follower",
             "pre-candidate": "pre-candidate", "crashed": "CRASHED"}
    for g, n in zip(nodes, snap["nodes"], strict=True):
        assert g.get("data-role") == n["role"]
        assert g.get("data-state") == n["state"]
        shown = texts(g)
        word = words[n["role"]]
        expected = f"PAUSED · {word}" if n["state"] == "paused" else word
        assert expected in shown, (n["id"], shown)
        assert n["id"] in shown
        assert f"term {n['term']}" in " ".join(shown)
    states = sorted(n["state"] for n in snap["nodes"])
    assert states.count("crashed") == 1 and states.count("paused") == 1  # the scenario held


def test_svg_draws_every_message_in_flight_and_the_partition(run: History) -> None:
    snap = snapshot(run.cluster)
    root = parse(to_svg(build_scene(snap, 1920, 1080)))
    messages = groups(root, "message")
    assert snap["messages"], "the scenario has messages in flight"
    assert sorted(int(g.get("data-id") or -1) for g in messages) == sorted(
        m["id"] for m in snap["messages"])
    for g in messages:
        m = next(m for m in snap["messages"] if m["id"] == int(g.get("data-id") or -1))
        assert g.get("data-kind") == m["kind"]
        assert ("reply" in (g.get("class") or "")) == m["reply"]
    cut = groups(root, "cut")
    group_of = {n: i for i, grp in enumerate(snap["network"]["groups"]) for n in grp}
    ids = [n["id"] for n in snap["nodes"]]
    across = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:]
              if group_of.get(a, -1) != group_of.get(b, -1)]
    assert len(cut) == len(across) == 2 * 3
    assert len(groups(root, "link")) == 10


def test_message_count_follows_the_snapshot_not_a_constant() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    h.apply_json({"type": "manual", "on": True})
    h.apply_json({"type": "timeout", "node": "n1"})
    h.run_for(h.cluster.config.fsync_ms)  # the RequestVotes leave once n1's vote is on disk
    snap = snapshot(h.cluster)
    root = parse(to_svg(build_scene(snap, 1280, 720)))
    votes = [g for g in groups(root, "message") if g.get("data-kind") == "RequestVote"]
    assert len(votes) == len(snap["messages"]) == 2  # n1 asks n2 and n3
    h.apply_json({"type": "drop", "id": snap["messages"][0]["id"]})
    root = parse(to_svg(build_scene(snapshot(h.cluster), 1280, 720)))
    assert len(groups(root, "message")) == 1


def test_logs_table_shows_each_node_entries_and_commit(run: History) -> None:
    snap = snapshot(run.cluster)
    root = parse(to_svg(build_scene(snap, 1920, 1080)))
    rows = groups(root, "log-row")
    assert [r.get("data-node") for r in rows] == [n["id"] for n in snap["nodes"]]
    for row, n in zip(rows, snap["nodes"], strict=True):
        assert row.get("data-entries") == str(len(n["log"]))
        assert row.get("data-commit") == str(n["commit_index"])
        cells = [t for t in texts(row)[2:] if re.fullmatch(r"\d+", t)]
        assert cells == [str(e[1]) for e in n["log"]]


def test_png_is_the_requested_size(run: History) -> None:
    snap = snapshot(run.cluster)
    for size, dims in (("1920x1080", (1920, 1080)), ("1280x720", (1280, 720))):
        result = render_still(snap, parse_request({"format": "png", "size": size}, 0))
        image = Image.open(io.BytesIO(result.data))
        assert image.format == "PNG" and image.size == dims
        # Not a blank canvas: the leader's teal and the crash grey are both on it.
        colours = {c for _, c in image.convert("RGB").getcolors(1 << 20) or []}
        assert (13, 114, 104) in colours or (152, 161, 174) in colours


def clip(h: History, fmt: str, **extra: Any) -> Any:
    req = parse_request({"format": fmt, **extra}, h.horizon)
    job = ClipJob(replica(h, req.start), req)
    while job.done < job.total:
        job.step(7)
    return req, job.finish()


def test_gif_decodes_to_the_requested_frames_and_size(run: History) -> None:
    req, result = clip(run, "gif", start=200.0, end=650.0, fps=10, seconds=2.3,
                       size="1280x720")
    image = Image.open(io.BytesIO(result.data))
    assert image.format == "GIF"
    assert req.frames == 23 and image.n_frames == 23 and result.frames == 23
    assert image.size == (1280, 720)
    durations = []
    for i in range(image.n_frames):
        image.seek(i)
        durations.append(image.info["duration"])
    assert sum(durations) == 2300  # 23 frames at 10 fps


def decode_video(data: bytes) -> tuple[int, int, int, str]:
    """Decode every frame with the wheel's ffmpeg: (width, height, frame count, codec)."""
    with tempfile.NamedTemporaryFile(suffix=".webm") as f:
        f.write(data)
        f.flush()
        out = subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", f.name, "-map", "0:v:0",
             "-f", "rawvideo", "-pix_fmt", "gray", "-"],
            capture_output=True, check=True, timeout=60,
        )
    info = re.search(r"Video: (\w+).*?, (\d+)x(\d+)", out.stderr.decode())
    assert info, out.stderr.decode()[-500:]
    width, height = int(info.group(2)), int(info.group(3))
    return width, height, len(out.stdout) // (width * height), info.group(1)


def test_webm_decodes_to_the_requested_frames_and_size(run: History) -> None:
    req, result = clip(run, "webm", start=100.0, end=650.0, fps=12, seconds=1.5)
    assert result.data[:4] == b"\x1a\x45\xdf\xa3"  # Matroska/WebM
    width, height, frames, codec = decode_video(result.data)
    assert (width, height) == (1920, 1080)
    assert codec == "vp9"
    assert frames == req.frames == 18


def test_a_clip_never_moves_the_live_run(run: History) -> None:
    before = (run.cluster.now, run.cluster.events_processed, run.cursor, len(run.checkpoints),
              snapshot(run.cluster))
    clip(run, "gif", start=0.0, end=300.0, fps=5, seconds=1.0, size="1280x720")
    assert (run.cluster.now, run.cluster.events_processed, run.cursor, len(run.checkpoints),
            snapshot(run.cluster)) == before


def test_clip_frames_replay_the_recorded_run(run: History) -> None:
    """The frame at the range's end shows exactly what the live run showed at that time."""
    h = crash_with_partition()
    end = h.now
    twin = replica(h, 300.0)
    twin.run_until(end)
    assert snapshot(twin.cluster) == snapshot(h.cluster)


@pytest.mark.parametrize(("payload", "words"), [
    ({"format": "bmp"}, "format must be one of svg, png, gif, webm"),
    ({"format": "png", "size": "4k"}, "size must be one of 1920x1080, 1280x720"),
    ({"format": "svg", "start": 1}, "unexpected field(s) 'start'"),
    ({"format": "gif", "end": 10}, "start is required"),
    ({"format": "gif", "start": 500, "end": 100}, "must come after start"),
    ({"format": "gif", "start": 0, "end": 9000}, "end must be a number within 0..1000 ms"),
    ({"format": "webm", "start": 0, "end": 500, "fps": 60}, "fps must be a number within 5..30"),
    ({"format": "webm", "start": 0, "end": 500, "fps": 12.5}, "fps must be a whole number"),
    ({"format": "gif", "start": 0, "end": 500, "seconds": 0}, "seconds must be a number within"),
    ({"format": "gif", "start": 0, "end": 500, "fps": 30, "seconds": 30}, "at most 600"),
    ({"format": "gif", "start": 0, "end": 100, "fps": 30, "seconds": 10}, "less than 1 ms"),
    ({"format": "gif", "start": True, "end": 100}, "start must be a number"),
])
def test_bad_requests_are_refused_with_the_field_and_range(payload: dict[str, Any],
                                                           words: str) -> None:
    with pytest.raises(ExportError) as info:
        parse_request(payload, horizon=1000.0)
    assert words in str(info.value)


def test_a_range_wider_than_the_limit_is_refused() -> None:
    with pytest.raises(ExportError, match="at most 60000 ms"):
        parse_request({"format": "webm", "start": 0, "end": 70_000}, horizon=100_000.0)


def test_frames_drawn_on_a_reused_backdrop_match_frames_drawn_whole(run: History) -> None:
    backdrops = Backdrops()
    twin = replica(run, 100.0)
    for t in (100.0, 180.0, 400.0, run.now):  # across the partition and the crash
        twin.run_until(t)
        scene = build_scene(snapshot(twin.cluster), 1280, 720)
        assert ImageChops.difference(
            render_rgb(scene, backdrops=backdrops), render_rgb(scene)).getbbox() is None
        assert ImageChops.difference(
            render_palette(scene, backdrops), render_palette(scene)).getbbox() is None


def test_a_paxos_run_draws_its_roles_and_accepted_slots() -> None:
    h = History(ClusterConfig(size=3, seed=2, protocol="paxos"))
    assert h.run_until_condition(leader_exists, 5000)
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "7"})
    h.run_for(200)
    snap = snapshot(h.cluster)
    root = parse(to_svg(build_scene(snap, 1920, 1080)))
    nodes = groups(root, "node")
    assert [g.get("data-role") for g in nodes] == [n["role"] for n in snap["nodes"]]
    leader = next(g for g in nodes if g.get("data-node") == snap["leader"])
    assert "LEADER (proposer)" in texts(leader)
    for row, n in zip(groups(root, "log-row"), snap["nodes"], strict=True):
        assert row.get("data-entries") == str(len(n["log"])) and n["log"]


def test_client_traffic_is_drawn_from_the_clients_hub() -> None:
    h = History(ClusterConfig(size=3, seed=1))
    assert h.run_until_condition(leader_exists, 5000)
    h.apply_json({"type": "manual", "on": True})
    h.apply_json({"type": "client", "op": "set", "key": "x", "value": "1"})
    snap = snapshot(h.cluster)
    requests = [m for m in snap["messages"] if m["kind"] == "ClientRequest"]
    assert requests, snap["messages"]
    root = parse(to_svg(build_scene(snap, 1920, 1080)))
    drawn = [g for g in groups(root, "message") if g.get("data-kind") == "ClientRequest"]
    assert len(drawn) == len(requests)
    assert len(groups(root, "message")) == len(snap["messages"])
    assert len(groups(root, "hub")) == 1


def test_timer_arcs_follow_each_servers_election_timer_and_the_leaders_lease() -> None:
    h = History(ClusterConfig(size=3, seed=5))
    assert h.run_until_condition(leader_exists, 5000)
    h.run_for(37)  # mid-way between heartbeats: every follower's timer has run a little
    snap = snapshot(h.cluster)
    root = parse(to_svg(build_scene(snap, 1280, 720)))
    drawn = {g.get("data-node"): g for g in groups(root, "timers")}
    for node in snap["nodes"]:
        e = node["election"]
        if e is None or node["state"] != "up":
            assert node["id"] not in drawn or drawn[node["id"]].get("data-election") is None
            continue
        g = drawn[node["id"]]
        assert float(g.get("data-election") or -1) == pytest.approx(
            min(1.0, e["elapsed"] / e["timeout"]), abs=1e-3)
        assert g.find(f"{SVG}path") is not None or g.find(f"{SVG}circle") is not None
    lease = snap["nodes"][[n["id"] for n in snap["nodes"]].index(h.cluster.leader)]
    remaining = (lease["leader_state"] or {}).get("lease_remaining") or 0
    assert (drawn.get(h.cluster.leader) is not None and drawn[h.cluster.leader].get("data-lease")
            is not None) == (remaining > 0)


def test_lost_messages_are_marked_where_they_died_for_a_moment() -> None:
    h = History(ClusterConfig(size=3, seed=5))
    assert h.run_until_condition(leader_exists, 5000)
    leader = h.cluster.leader
    assert leader is not None
    h.apply_json({"type": "crash", "node": next(n for n in h.cluster.hosts if n != leader)})
    h.run_for(120)  # heartbeats to the crashed server are lost on arrival
    snap = snapshot(h.cluster)
    recent = [d for d in snap["dropped"] if snap["time"] - d["lost_at"] <= 400]
    assert recent, "the scenario should lose heartbeats"
    root = parse(to_svg(build_scene(snap, 1280, 720)))
    marks = groups(root, "lost-message")
    assert {m.get("data-id") for m in marks} == {str(d["id"]) for d in recent}
    assert all(len(list(m.iter(f"{SVG}line"))) == 2 for m in marks)  # an X each
    h.run_for(1000)  # long after: only the newest losses are marked
    later = snapshot(h.cluster)
    fresh = {str(d["id"]) for d in later["dropped"] if later["time"] - d["lost_at"] <= 400}
    again = groups(parse(to_svg(build_scene(later, 1280, 720))), "lost-message")
    assert {m.get("data-id") for m in again} == fresh
    assert not fresh & {m.get("data-id") for m in marks}


def test_the_timer_arc_is_painted_in_the_png() -> None:
    h = History(ClusterConfig(size=3, seed=5))
    assert h.run_until_condition(leader_exists, 5000)
    h.run_for(90)
    snap = snapshot(h.cluster)
    with_arcs = build_scene(snap, 1280, 720)
    still = {**snap, "nodes": [{**n, "election": None, "leader_state": None}
                               for n in snap["nodes"]]}
    without = build_scene(still, 1280, 720)
    a, b = render_rgb(with_arcs), render_rgb(without)
    assert ImageChops.difference(a, b).getbbox() is not None, "the arcs should change pixels"
    timer_grey = (0x8D, 0x99, 0xAB)
    assert timer_grey in {c for _, c in a.getcolors(1 << 20) or []}
    assert timer_grey not in {c for _, c in b.getcolors(1 << 20) or []}
