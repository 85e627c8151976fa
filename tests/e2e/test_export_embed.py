"""Slides and embeds in a real browser: exports made from the page decode to what was asked
for, and the embed plays a shared run inside a page served from another origin."""

from __future__ import annotations

import html
import re
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import imageio_ffmpeg
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import OUT_DIR, Lab
from tests.e2e.test_accessibility import audit

EXPORTS = OUT_DIR / "exports"
SVG_G = "{http://www.w3.org/2000/svg}g"


def crashed_leader_run(lab: Any) -> tuple[str, str]:
    """Elect a leader, cut one follower off, crash the leader, wait for the next; pause."""
    lab.fast()
    lab.play()
    old = lab.leader()
    lab.open_menu(old).get_by_test_id("action-crash").click()
    expect(lab.node(old)).to_have_attribute("data-state", "crashed")

    new = lab.new_leader(old)
    lab.pause()
    return old, new


def export(lab: Any, fmt: str, **fields: Any) -> tuple[Path, str]:
    """Export from the panel; returns the downloaded file and the note shown after it."""
    page = lab.page
    panel = page.get_by_test_id("export-panel")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    page.get_by_test_id("export-format").select_option(fmt)
    for name, value in fields.items():
        page.get_by_test_id(f"export-{name}").fill(str(value))
    with page.expect_download(timeout=60_000) as info:
        page.get_by_test_id("export-go").click()
    download = info.value
    EXPORTS.mkdir(parents=True, exist_ok=True)
    path = EXPORTS / download.suggested_filename
    download.save_as(path)
    note = page.get_by_test_id("export-note")
    expect(note).to_have_attribute("data-state", "done")
    return path, str(note.text_content())


def page_roles(lab: Any) -> dict[str, tuple[str, str]]:
    rows = lab.page.locator('[data-testid^="node-n"]').evaluate_all(
        "els => els.map(e => [e.dataset.node, e.dataset.role, e.dataset.state])")
    return {r[0]: (r[1], r[2]) for r in rows}


def video_frames(path: Path) -> tuple[int, int, int]:
    out = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0",
         "-f", "rawvideo", "-pix_fmt", "gray", "-"],
        capture_output=True, check=True, timeout=60,
    )
    size = re.search(r"Video: vp9.*?, (\d+)x(\d+)", out.stderr.decode())
    assert size, out.stderr.decode()[-400:]
    w, h = int(size.group(1)), int(size.group(2))
    return w, h, len(out.stdout) // (w * h)


def test_exports_from_the_page(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    old, new = crashed_leader_run(lab)
    roles = page_roles(lab)
    now = lab.sim_time()

    png, note = export(lab, "png")
    with Image.open(png) as image:
        assert image.size == (1920, 1080)
    assert "1920×1080" in note

    svg, _ = export(lab, "svg")
    root = ET.parse(svg).getroot()
    nodes = [g for g in root.iter(SVG_G) if "node" in (g.get("class") or "").split()]
    assert {g.get("data-node"): (g.get("data-role"), g.get("data-state")) for g in nodes} == roles
    assert roles[old][1] == "crashed" and roles[new][0] == "leader"

    page.get_by_test_id("export-size").select_option("1280x720")
    start = max(0, int(now) - 1500)
    progress = page.get_by_test_id("export-progress")
    gif, note = export(lab, "gif", start=start, end=int(now), seconds=2, fps=10)
    with Image.open(gif) as image:
        assert image.n_frames == 20 and image.size == (1280, 720)
    assert "20 frames" in note
    expect(progress).to_be_hidden()

    webm, _ = export(lab, "webm", start=start, end=int(now), seconds=1, fps=12)
    assert video_frames(webm) == (1280, 720, 12)
    assert lab.sim_time() == now  # exporting never moved the run
    save_screenshot(page, "after-exports")

    # A bad range is refused with the reason, next to the button.
    page.get_by_test_id("export-end").fill(str(int(now) + 100_000))
    page.get_by_test_id("export-go").click()
    expect(page.get_by_test_id("export-note")).to_contain_text("end must be a number within")


# ------------------------------------------------------------------- the embed


@pytest.fixture
def other_origin() -> Iterator[dict[str, Any]]:
    """A tiny host page on another origin (localhost, another port) that iframes the embed."""
    pages: dict[str, str] = {}

    class Host(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            body = pages.get(self.path.split("?")[0], "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Host)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://localhost:{server.server_address[1]}", "pages": pages}
    server.shutdown()
    server.server_close()


def test_embed_plays_a_shared_run_inside_another_origin(
    lab: Any, browser: Any, other_origin: dict[str, Any], save_screenshot: Any
) -> None:
    page = lab.page
    old, new = crashed_leader_run(lab)
    before = (lab.sim_time(), page_roles(lab))
    page.get_by_test_id("embed-code").click()
    snippet = page.get_by_test_id("embed-snippet").input_value()
    src = html.unescape(re.search(r'src="([^"]+)"', snippet).group(1))  # type: ignore[union-attr]
    parts = urlsplit(src)
    assert parts.path == "/embed" and "trace" in parse_qs(parts.query)
    src = src.replace("speed=0.05", "speed=1")
    # Play the whole run from 0 at real time, so the test sees the crash and the new leader.
    pages = other_origin["pages"]
    pages["/course.html"] = (
        "<!doctype html><title>Course</title><h1>Lecture 4: leader crash</h1>"
        f'<iframe id="lab" src="{html.escape(src)}" width="900" height="560" '
        'style="border:1px solid #999"></iframe>'
    )
    ctx = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        host = ctx.new_page()
        host.set_default_timeout(20000)
        errors: list[str] = []
        host.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        host.goto(other_origin["url"] + "/course.html")
        frame = host.frame_locator("#lab")
        embed = frame.get_by_test_id("embed")
        expect(embed).to_have_attribute("data-ready", "true", timeout=30000)
        assert host.frames[1].url.startswith(lab.url.rstrip("/") + "/embed")
        expect(frame.locator('[data-testid^="node-n"]')).to_have_count(5)
        expect(frame.get_by_test_id("embed-time")).to_have_attribute("data-time", "0")
        frame.get_by_test_id("embed-play").click()
        expect(frame.get_by_test_id("embed-play")).to_have_attribute("data-playing", "true")
        # It plays the shared run: the same leader falls, the same successor takes over.
        expect(frame.get_by_test_id(f"node-{old}")).to_have_attribute("data-state", "crashed",
                                                                      timeout=30000)
        expect(frame.get_by_test_id(f"node-{new}")).to_have_attribute("data-role", "leader",
                                                                      timeout=30000)
        # ... and stops where the run was shared.
        expect(frame.get_by_test_id("embed-play")).to_have_attribute("data-playing", "false",
                                                                     timeout=30000)
        end = float(frame.get_by_test_id("embed-time").get_attribute("data-time") or 0)
        assert end >= before[0] - 1
        save_screenshot(host, "course-1366")
        host.set_viewport_size({"width": 1920, "height": 1080})
        save_screenshot(host, "course-1920")
        # Scrub back to the start and step one event: read-only controls, no commands.
        scrub = frame.get_by_test_id("embed-scrub")
        scrub.fill("0")
        expect(frame.get_by_test_id("embed-time")).to_have_attribute("data-time", "0")
        frame.get_by_test_id("embed-step").click()
        expect(frame.get_by_test_id("embed-time")).not_to_have_attribute("data-time", "0")
        assert not [e for e in errors if "Content Security Policy" in e or "frame" in e], errors
    finally:
        ctx.close()
    # The lab's own session did not move.
    assert (lab.sim_time(), page_roles(lab)) == before


def test_embed_plays_a_lesson_step_range(page: Any, server_url: str,
                                         save_screenshot: Any) -> None:
    page.set_default_timeout(15000)
    page.goto(server_url + "/embed?lesson=leader-election&step=1&last=2&speed=1")
    expect(page.get_by_test_id("embed")).to_have_attribute("data-ready", "true", timeout=30000)
    title = page.get_by_test_id("embed-step-title")
    expect(title).to_contain_text("Step 2:")
    expect(page.get_by_test_id("embed-back")).to_be_disabled()
    page.get_by_test_id("embed-next").click()
    expect(title).to_contain_text("Step 3:")
    expect(page.get_by_test_id("embed-next")).to_be_disabled()
    page.get_by_test_id("embed-play").click()
    expect(page.get_by_test_id("embed-play")).to_have_attribute("data-playing", "true")
    save_screenshot(page, "lesson")


def test_only_the_embed_may_be_framed(server_url: str, page: Any) -> None:
    embed = page.request.get(server_url + "/embed")
    lab = page.request.get(server_url + "/")
    assert "frame-ancestors *" in embed.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in lab.headers["content-security-policy"]


def test_export_panel_and_embed_have_no_serious_accessibility_violations(
    browser: Any, server_url: str
) -> None:
    # CSP-bypassing contexts, to inject axe (as in test_accessibility.py).
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, bypass_csp=True)
    try:
        audit_export_panel_and_embed(ctx, server_url)
    finally:
        ctx.close()


def audit_export_panel_and_embed(ctx: Any, server_url: str) -> None:
    page = ctx.new_page()
    page.set_default_timeout(15000)
    lab = Lab(page, server_url + "/").open()
    page.get_by_test_id("export-panel").locator("summary").click()
    page.get_by_test_id("export-format").select_option("gif")
    expect(page.get_by_test_id("export-start")).to_be_visible()
    audit(lab.page, "export panel")
    embed = ctx.new_page()
    embed.set_default_timeout(20000)
    embed.goto(server_url + "/embed?lesson=leader-election&step=0&logs=1")
    expect(embed.get_by_test_id("embed")).to_have_attribute("data-ready", "true", timeout=30000)
    audit(embed, "embed")


def test_embedded_lesson_shows_each_steps_text_and_can_hide_it(page: Any, server_url: str,
                                                               save_screenshot: Any) -> None:
    page.set_default_timeout(15000)
    page.set_viewport_size({"width": 1100, "height": 620})
    page.goto(server_url + "/embed?lesson=leader-election&step=0&last=1")
    expect(page.get_by_test_id("embed")).to_have_attribute("data-ready", "true", timeout=30000)
    text = page.get_by_test_id("embed-text")
    expect(text).to_be_visible()
    first = text.inner_text()
    assert len(first) > 80, first  # the step's scenario, not a title
    save_screenshot(page, "lesson-text")
    page.get_by_test_id("embed-next").click()
    expect(page.get_by_test_id("embed-step-title")).to_contain_text("Step 2:")
    expect(text).not_to_have_text(first)
    toggle = page.get_by_test_id("embed-text-toggle")
    toggle.click()
    expect(text).to_be_hidden()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(text).to_be_visible()
    page.goto(server_url + "/embed?lesson=leader-election&step=0&text=0")
    expect(page.get_by_test_id("embed")).to_have_attribute("data-ready", "true", timeout=30000)
    expect(page.get_by_test_id("embed-step-title")).to_contain_text("Step 1:")
    expect(page.get_by_test_id("embed-text")).to_be_hidden()
