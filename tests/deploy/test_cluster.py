"""Several workers behind nginx: a classroom whose students sit on other workers than its
presenter, and that survives the presenter's worker being killed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.client import PageClient
from tests.deploy.procs import App, Nginx, Redis, route_cookies

KEY = {"RAFTVIZ_STORE_KEY": "the key these test workers share"}


@dataclass
class Cluster:
    workers: dict[str, App]
    nginx: Nginx
    cookies: dict[str, str]

    def page(self, worker: str, **kwargs: Any) -> PageClient:
        cookie = {"Cookie": f"raftviz_route={self.cookies[worker]}"}
        return PageClient(self.nginx.url, headers=cookie, **kwargs)


@pytest.fixture
def cluster(tmp_path: Path, redis_server: Redis) -> Iterator[Cluster]:
    import redis

    redis.Redis.from_url(redis_server.url).flushdb()
    url = redis_server.url
    workers: dict[str, App] = {}
    nginx = None
    try:
        for name in ("w1", "w2", "w3"):
            workers[name] = App(tmp_path, "--redis", url, "--message-queue", url,
                                "--worker", name, name=name, env=KEY)
        nginx = Nginx(tmp_path, [w.port for w in workers.values()])
        yield Cluster(workers, nginx, route_cookies(nginx.url, set(workers)))
    finally:
        if nginx is not None:
            nginx.stop()
        for app in workers.values():
            app.stop()


def view(frame: dict[str, Any]) -> tuple[Any, ...]:
    """What a page shows of the cluster in a frame (every frame carries these)."""
    nodes = tuple((n["id"], n["state"], n["role"], n["term"]) for n in frame["nodes"])
    return frame["time"], nodes


def follows(student: PageClient, presenter: PageClient) -> None:
    target = view(presenter.frames[-1])
    student.wait(lambda: bool(student.frames) and view(student.frames[-1]) == target,
                 f"the student to show the presenter's frame at {target[0]} ms")


def last_class(page: PageClient, check: Any, what: str) -> dict[str, Any]:
    page.wait(lambda: any(check(c) for c in page.classes), what)
    return next(c for c in reversed(page.classes) if check(c))


def test_students_on_other_workers_follow_and_the_class_survives_its_worker(
    cluster: Cluster,
) -> None:
    presenter = cluster.page("w1")
    created = presenter.call("class_create", {})
    code, secret = created["code"], created["secret"]
    students = [cluster.page(w, join=code, name=f"student on {w}") for w in ("w2", "w3")]
    for s in students:
        last_class(s, lambda c: c.get("role") == "student", "the student's class state")

    # Frames: the presenter acts; each student, on another worker, sees the same cluster.
    presenter.command(type="crash", node="n1")
    presenter.player(action="advance", ms=1200)
    for s in students:
        follows(s, presenter)
    assert dict((n[0], n[1]) for n in view(students[0].frames[-1])[1])["n1"] == "crashed"

    # Polls: the question reaches them; their answers (forwarded) reach the presenter.
    presenter.call("poll_open", {"secret": secret, "question": "Who leads next?",
                                 "choices": ["n2", "n3", "nobody"]})
    for s in students:
        last_class(s, lambda c: (c.get("poll") or {}).get("question") == "Who leads next?",
                   "the poll")
    students[0].call("poll_answer", {"choice": 0})
    students[1].call("poll_answer", {"choice": 2})
    tally = presenter.call("poll_close", {"secret": secret})["tally"]
    assert tally == [1, 0, 1]
    refused = students[0].call("command", {"command": {"type": "heal"}}, ok=False)
    assert "read-only" in refused["error"]
    # The room takes 250 students per worker: each worker writes its own students' frames.
    deadline = time.monotonic() + 10  # workers count each other by their heartbeats
    while presenter.call("class_state")["class"]["capacity"] != 250 * len(cluster.workers):
        assert time.monotonic() < deadline, "the room never counted every worker"
        time.sleep(0.2)

    # A poll open when the owner dies carries over with its answers.
    presenter.call("poll_open", {"secret": secret, "question": "Does the class survive?",
                                 "choices": ["yes", "no"]})
    for s in students:
        last_class(s, lambda c: (c.get("poll") or {}).get("question") == "Does the class "
                   "survive?", "the second poll")
        s.call("poll_answer", {"choice": 0})
    last_class(presenter, lambda c: (c.get("poll") or {}).get("answers") == 2, "two answers")

    # The presenter's worker dies. Its page reconnects (nginx sends it elsewhere), the session
    # is rebuilt from Redis, and presenting again with the secret takes the classroom over.
    before = view(presenter.frames[-1])
    cluster.workers["w1"].kill9()
    presenter.close()
    again = cluster.page("w1", token=presenter.token)
    assert again.token == presenter.token, again.hello.get("restore_error")
    assert view(again.frames[0]) == before
    resumed = again.call("class_create", {"secret": secret})
    assert resumed["code"] == code and resumed["resumed"] is True
    carried = resumed["class"]["poll"]
    assert carried["question"] == "Does the class survive?" and carried["open"] is True
    assert carried["tally"] == [2, 0]
    # The students (on the workers still alive) are the same members: they change their minds.
    for s in students:
        s.call("poll_answer", {"choice": 1})
    assert again.call("poll_close", {"secret": secret})["tally"] == [0, 2]
    again.command(type="restart", node="n1")
    again.player(action="advance", ms=800)
    for s in students:
        follows(s, again)
    again.call("poll_open", {"secret": secret, "question": "Is n1 back?",
                             "choices": ["yes", "no"]})
    for s in students:
        last_class(s, lambda c: (c.get("poll") or {}).get("question") == "Is n1 back?",
                   "the new poll")
        s.call("poll_answer", {"choice": 0})
    assert again.call("poll_close", {"secret": secret})["tally"] == [2, 0]
    for page in (again, *students):
        page.close()
