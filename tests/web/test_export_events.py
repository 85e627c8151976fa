"""Export events over Socket.IO: refused requests change nothing; accepted ones report progress
and end in a file the page can download, without moving the live run."""

from __future__ import annotations

import io
import time
from typing import Any

from PIL import Image

from tests.web.conftest import Page, Server


def start(page: Page, payload: Any) -> dict[str, Any]:
    ack = page.client.emit("export_start", payload, callback=True)
    assert isinstance(ack, dict), ack
    return ack


def wait_export(page: Page, job: str, timeout: float = 60.0) -> tuple[list[dict[str, Any]],
                                                                      dict[str, Any]]:
    """Collect this job's progress events until it is done (or failed)."""
    progress: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in page.client.get_received():
            name, args = message["name"], message["args"]
            if not name.startswith("export_") or args[0]["job"] != job:
                continue
            if name == "export_progress":
                progress.append(args[0])
            else:
                return progress, {"event": name, **args[0]}
        time.sleep(0.02)
    raise AssertionError(f"export {job} did not finish in {timeout} s")


def played(page: Page, ms: float) -> None:
    page.player(action="advance", ms=ms)


def test_png_of_the_current_view_is_downloadable(server: Server, tab: Page) -> None:
    played(tab, 1500)
    ack = start(tab, {"format": "png", "size": "1280x720"})
    assert ack["ok"] is True and ack["total"] == 1
    progress, done = wait_export(tab, ack["job"])
    assert done["event"] == "export_done", done
    assert progress[-1] == {"job": ack["job"], "done": 1, "total": 1}
    response = server.app.test_client().get(done["url"])
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "attachment" in response.headers["Content-Disposition"]
    assert Image.open(io.BytesIO(response.data)).size == (1280, 720)
    assert done["bytes"] == len(response.data)


def test_svg_shows_the_session_cluster(server: Server, tab: Page) -> None:
    played(tab, 1500)
    ack = start(tab, {"format": "svg"})
    _, done = wait_export(tab, ack["job"])
    body = server.app.test_client().get(done["url"]).get_data(as_text=True)
    truth = tab.truth()
    assert body.count('class="node ') == len(truth["nodes"])
    leader = truth["leader"]
    assert leader and f'data-node="{leader}" data-role="leader"' in body


def test_gif_reports_progress_and_leaves_the_run_where_it_was(server: Server,
                                                              tab: Page) -> None:
    played(tab, 2000)
    before = tab.truth()
    ack = start(tab, {"format": "gif", "start": 500, "end": 1500, "fps": 10, "seconds": 2,
                      "size": "1280x720"})
    assert ack["ok"] is True and ack["total"] == 20
    progress, done = wait_export(tab, ack["job"])
    assert done["event"] == "export_done", done
    counts = [p["done"] for p in progress]
    assert counts == sorted(counts) and counts[-1] == 20 and len(counts) >= 4
    data = server.app.test_client().get(done["url"]).data
    image = Image.open(io.BytesIO(data))
    assert image.n_frames == 20 and image.size == (1280, 720)
    assert tab.truth() == before


def test_one_export_at_a_time_per_session(server: Server, tab: Page) -> None:
    played(tab, 3000)
    first = start(tab, {"format": "gif", "start": 0, "end": 3000, "fps": 10, "seconds": 3,
                        "size": "1280x720"})
    assert first["ok"] is True
    second = start(tab, {"format": "png"})
    assert second == {"ok": False, "error": "an export of this session is still running; "
                                            "wait for it to finish"}
    _, done = wait_export(tab, first["job"])
    assert done["event"] == "export_done"
    assert start(tab, {"format": "svg"})["ok"] is True


def test_bad_requests_are_refused_clearly_and_change_nothing(server: Server, tab: Page) -> None:
    played(tab, 1000)
    before = tab.truth()
    cases = [
        ({"format": "mp4"}, "format must be one of svg, png, gif, webm"),
        ({"format": "gif", "start": 0, "end": 5000}, "end must be a number within 0..1000 ms"),
        ({"format": "gif", "start": 800, "end": 200}, "end (200 ms) must come after start"),
        ({"format": "webm", "start": 0, "end": 900, "fps": 30, "seconds": 40}, "at most 600"),
        ({"format": "png", "size": "800x600"}, "size must be one of 1920x1080, 1280x720"),
        ({"format": "gif", "start": "0", "end": 10}, "start must be a number"),
        ({"format": "png", "extra": 1}, "unexpected field(s) 'extra'"),
        ("png", "export_start payload must be a JSON object"),
    ]
    for payload, words in cases:
        ack = start(tab, payload)
        assert ack["ok"] is False and words in ack["error"], (payload, ack)
    assert not any(m["name"].startswith("export_") for m in tab.client.get_received())
    assert tab.truth() == before


def test_unknown_export_links_are_404(server: Server) -> None:
    client = server.app.test_client()
    assert client.get("/export/nope").status_code == 404
    assert client.get("/export/" + "x" * 100).status_code == 404


def test_a_page_that_leaves_stops_its_export(server: Server, tab: Page) -> None:
    played(tab, 5000)
    exports = server.app.extensions["raftviz"].handlers.events["export_start"][2].__self__
    ack = start(tab, {"format": "webm", "start": 0, "end": 5000, "fps": 30, "seconds": 20})
    assert ack["ok"] is True and ack["total"] == 600
    tab.disconnect()
    deadline = time.monotonic() + 60
    while exports.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not exports.running  # stopped long before 600 frames at this machine's pace
    assert exports.store.get(ack["job"]) is None
