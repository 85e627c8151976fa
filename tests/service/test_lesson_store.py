"""A guided lesson in progress is stored like the commands and comes back at the same step.

Each test runs against both backends. The lesson is driven as raftviz/web/lesson_events.py
drives it (the runner's History becomes the session's), and stored after every action as the
web layer does before acknowledging. "Comes back the same" means: the lesson's whole state
(step, tasks done and by whom, answers with their grades), the cluster's snapshot and the
command log; then both copies go on (back to an earlier step, forward past a step with its own
cluster) and must stay the same.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from raftviz.lessons import LESSONS_FOLDER, Lesson, LessonRunner, LessonUsageError, load_lessons
from raftviz.service.sessions import Limits, Session, SessionManager
from raftviz.service.store import Position, SessionStore
from raftviz.service.store import lessons as stored_lessons
from raftviz.service.store.base import LessonWrite
from raftviz.service.store.redis_store import RedisStore
from raftviz.service.store.sqlite_store import SqliteStore
from raftviz.sim.engine.cluster import CommandError
from raftviz.sim.snapshot import snapshot
from tests.service.journal import redone

LESSONS = {x.id: x for x in load_lessons(LESSONS_FOLDER)[0]}
SPLIT_BRAIN = LESSONS["split-brain"]  # six steps; step 4 has a cluster of its own


def manager(store: SessionStore, lessons: dict[str, Lesson] = LESSONS) -> SessionManager:
    m = SessionManager(Limits(), store=store)
    m.find_lesson = lessons.get
    return m


def lesson_act(m: SessionManager, s: Session, fn: Callable[[LessonRunner], object]) -> None:
    """A lesson event: act on the runner, show its History, store before acknowledging."""
    assert s.lesson is not None
    s.used = True
    fn(s.lesson)
    s.history = s.lesson.history
    m.save(s)


def start(m: SessionManager, s: Session, lesson: Lesson) -> LessonRunner:
    runner = LessonRunner(lesson)
    runner.start()
    s.lesson = runner
    lesson_act(m, s, lambda r: None)
    return runner


def learner(m: SessionManager, s: Session, command: dict[str, Any]) -> None:
    s.used = True
    s.command(command)
    m.save(s)


def timed(m: SessionManager, s: Session, fn: Callable[[], object]) -> None:
    s.used = True
    fn()
    m.save(s)


def state(s: Session) -> dict[str, Any]:
    assert s.lesson is not None
    data = s.lesson.state()
    return json.loads(json.dumps(data))


def assert_same(a: Session, b: Session) -> None:
    assert b.token == a.token, b.restore_error
    assert b.lesson is not None and a.lesson is not None
    assert b.history is b.lesson.history
    assert state(b) == state(a)
    assert b.lesson.journal == a.lesson.journal
    assert snapshot(b.history.cluster) == snapshot(a.history.cluster)
    assert b.history.export_trace() == a.history.export_trace()


def half_way(m: SessionManager, s: Session) -> None:
    """Split brain, as a student does it: read, act, predict, play, show me; stop in step 2."""
    lesson = start(m, s, SPLIT_BRAIN)
    first = lesson.lesson.steps[0].questions[0]
    lesson_act(m, s, lambda r: r.answer(first.id, 2))  # a number
    lesson_act(m, s, lambda r: r.next())
    step = lesson.step
    learner(m, s, lesson.solution_command(step.tasks[0].id))
    prediction = step.questions[0]
    lesson_act(m, s, lambda r: r.answer(prediction.id, prediction.choices[-1].value))
    timed(m, s, lambda: s.advance(400))
    lesson_act(m, s, lambda r: r.next())
    lesson_act(m, s, lambda r: r.perform(lesson.step.tasks[0].id))  # "show me"
    timed(m, s, lambda: s.advance(250))
    for _ in range(3):  # a step stops between events of one instant
        timed(m, s, s.step)


def test_a_lesson_half_way_comes_back_at_the_same_step(
    make_store: Callable[[], SessionStore],
) -> None:
    m = manager(make_store())
    s = m.open(None)
    half_way(m, s)
    assert s.lesson is not None and s.lesson.current == 2
    mb = manager(make_store())  # another worker, or this one restarted
    back = mb.open(s.token)
    assert back.restore_error is None
    assert_same(s, back)
    progress = state(back)["progress"]
    assert progress["step"] == 2 and progress["questions_answered"] == 2
    assert [t["done_by"] for t in state(back)["step"]["tasks"]] == ["lesson", None]

    # Both go on the same way (the original without storing: it lost the session): the rest
    # of step 2 by hand, back to step 1 (the cluster as that step began), then forward past
    # step 4, which brings its own cluster. The restored copy stores as it goes.
    assert s.lesson is not None and back.lesson is not None
    s.command(s.lesson.solution_command(s.lesson.step.tasks[1].id))
    learner(mb, back, back.lesson.solution_command(back.lesson.step.tasks[1].id))
    assert state(back) == state(s)
    for step in (1, 5):
        s.lesson.goto(step)
        s.history = s.lesson.history
        lesson_act(mb, back, lambda r, step=step: r.goto(step))  # type: ignore[misc]
        assert_same(s, back)
    assert_same(s, manager(make_store()).open(s.token))


def test_a_lesson_stored_past_a_step_with_its_own_cluster_goes_back_before_it(
    make_store: Callable[[], SessionStore],
) -> None:
    """Step 4 brings a new cluster: going back to step 3 after a restore needs the earlier
    cluster, which only the journal can rebuild."""
    m = manager(make_store())
    s = m.open(None)
    start(m, s, SPLIT_BRAIN)
    lesson_act(m, s, lambda r: r.goto(4))
    timed(m, s, lambda: s.advance(300))
    back = manager(make_store()).open(s.token)
    assert_same(s, back)
    for copy in (s, back):
        assert copy.lesson is not None
        copy.lesson.goto(3)
        copy.history = copy.lesson.history
    assert_same(s, back)
    assert s.lesson is not None and s.lesson.history.config == SPLIT_BRAIN.setup


def test_a_jump_back_and_a_fork_inside_a_lesson_replay_exactly(
    make_store: Callable[[], SessionStore],
) -> None:
    m = manager(make_store())
    s = m.open(None)
    lesson = start(m, s, SPLIT_BRAIN)
    lesson_act(m, s, lambda r: r.next())
    timed(m, s, lambda: s.advance(3000))
    timed(m, s, lambda: s.seek(lesson.history.now - 2000))  # back in time...
    learner(m, s, lesson.solution_command(lesson.step.tasks[0].id))  # ...and a new future
    timed(m, s, lambda: s.advance(500))
    back = manager(make_store()).open(s.token)
    assert_same(s, back)
    assert state(back)["step"]["tasks"][0]["done_by"] == "learner"


def test_a_long_play_inside_a_step_replays_from_the_stored_checkpoint(
    make_store: Callable[[], SessionStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty loaded seconds inside a step, then the answer: the journal's last entry is far
    into the run, and the rebuild reaches it from the stored checkpoint, not from the start."""
    m = manager(make_store())
    s = m.open(None)
    lesson = start(m, s, SPLIT_BRAIN)
    lesson_act(m, s, lambda r: r.next())
    learner(m, s, lesson.solution_command("isolate-n1"))
    learner(m, s, {"type": "workload", "rate": 20})
    timed(m, s, lambda: s.advance(30_000))
    assert m.store_checkpoint(s, lambda fn: fn())
    lesson_act(m, s, lambda r: r.answer("how-many-leaders", 2))
    replayed: list[int] = []
    real = stored_lessons.replay_to

    def counting(history: Any, pos: Any) -> None:
        before = history.cluster.events_processed
        real(history, pos)
        replayed.append(history.cluster.events_processed - before)

    monkeypatch.setattr(stored_lessons, "replay_to", counting)
    back = manager(make_store()).open(s.token)
    assert_same(s, back)
    assert state(back)["step"]["questions"][0]["result"]["choice"] == 2
    assert sum(replayed) < s.history.cluster.events_processed / 2  # all of them, without


def test_leaving_the_lesson_is_stored(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store())
    s = m.open(None)
    start(m, s, SPLIT_BRAIN)
    timed(m, s, lambda: s.advance(500))
    s.lesson = None  # lesson_exit: the cluster stays
    m.save(s)
    timed(m, s, lambda: s.command({"type": "crash", "node": "n1"}))
    mb = manager(make_store())
    back = mb.open(s.token)
    assert back.token == s.token and back.lesson is None
    assert snapshot(back.history.cluster) == snapshot(s.history.cluster)
    # A new lesson replaces the stored one (and a reset ends it).
    start(mb, back, LESSONS["leader-election"])
    mc = manager(make_store())
    again = mc.open(s.token)
    assert again.lesson is not None and again.lesson.lesson.id == "leader-election"
    timed(mc, again, lambda: again.reset(None))
    last = manager(make_store()).open(s.token)
    assert last.token == s.token and last.lesson is None


# ------------------------------------------------------------------ bad lesson records


def _damage(store: SessionStore, token: str, how: str) -> None:
    if isinstance(store, SqliteStore):
        db = store._db
        if how == "truncated":
            db.execute("UPDATE journal SET body = substr(body, 1, 12) WHERE token = ? AND seq = 1",
                       (token,))
        elif how == "lost":
            db.execute("DELETE FROM journal WHERE token = ? AND seq = 1", (token,))
        elif how == "version":
            db.execute("UPDATE lessons SET header = json_set(header, '$.version', 0) "
                       "WHERE token = ?", (token,))
        elif how == "forged":  # a well-formed entry that did not happen
            db.execute("UPDATE journal SET body = json_set(body, '$.step', 3) "
                       "WHERE token = ? AND seq = 2", (token,))
        elif how == "watch":  # what the page shows, replaced
            db.execute("UPDATE journal SET body = json_set(body, '$.watch', "
                       "json('[{\"pattern\": 0, \"html\": \"<b>\"}]')) "
                       "WHERE token = ? AND seq = 1", (token,))
    else:
        assert isinstance(store, RedisStore)
        r = store.client
        h, _, _, j = store.keys(token)
        if how == "truncated":
            r.lset(j, 1, r.lindex(j, 1)[:12])
        elif how == "lost":
            r.lset(j, 1, "gone")
            r.lrem(j, 1, "gone")
        elif how == "version":
            header = json.loads(r.hget(h, "lesson"))
            r.hset(h, "lesson", json.dumps({**header, "version": 0}))
        elif how == "forged":
            entry = json.loads(r.lindex(j, 2))
            r.lset(j, 2, json.dumps({**entry, "step": 3}))
        elif how == "watch":
            entry = json.loads(r.lindex(j, 1))
            r.lset(j, 1, json.dumps({**entry, "watch": [{"pattern": 0, "html": "<b>"}]}))


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("truncated", "stored lesson entry 1 is not valid JSON"),
        ("lost", "journal is incomplete"),
        ("version", "lesson has record version 0"),
        ("forged", "does not lead to the stored cluster"),
        ("watch", "stored lesson entry 1 (answer) does not replay"),
    ],
)
def test_a_bad_lesson_record_fails_that_session_only(
    make_store: Callable[[], SessionStore], how: str, says: str
) -> None:
    store = make_store()
    m = manager(store)
    bystander = m.open(None)
    start(m, bystander, SPLIT_BRAIN)
    lesson_act(m, bystander, lambda r: r.goto(2))
    s = m.open(None)
    start(m, s, SPLIT_BRAIN)
    lesson_act(m, s, lambda r: r.answer("votes-needed", 2))
    lesson_act(m, s, lambda r: r.goto(2))
    _damage(store, s.token, how)
    fresh = manager(store).open(s.token)
    assert fresh.token != s.token  # a new session, and the page is told why
    assert fresh.restore_error is not None and says in fresh.restore_error, fresh.restore_error
    assert fresh.lesson is None
    assert_same(bystander, manager(store).open(bystander.token))


def test_an_edited_or_missing_lesson_is_named(make_store: Callable[[], SessionStore]) -> None:
    m = manager(make_store())
    s = m.open(None)
    start(m, s, SPLIT_BRAIN)
    changed = replace(SPLIT_BRAIN, raw={**SPLIT_BRAIN.raw, "title": "Split brain, revised"})
    edited = {**LESSONS, "split-brain": changed}
    fresh = manager(make_store(), edited).open(s.token)
    assert fresh.restore_error is not None and "was changed on the server" in fresh.restore_error
    gone = manager(make_store(), {}).open(fresh.token)
    assert gone.restore_error is None  # the new session has nothing stored yet
    m2 = manager(make_store())
    s2 = m2.open(None)
    start(m2, s2, SPLIT_BRAIN)
    fresh = manager(make_store(), {}).open(s2.token)
    assert fresh.restore_error is not None
    assert "'split-brain' is not on this server" in fresh.restore_error


# ------------------------------------------------------------- every lesson, redone


def play(lesson: Lesson) -> LessonRunner:
    """Every step of ``lesson``: tasks by hand or by "show me", answers, time, and back."""
    runner = LessonRunner(lesson)
    runner.start()
    for index, step in enumerate(lesson.steps):
        if index:
            runner.goto(index)
        for t, task in enumerate(step.tasks):
            try:
                if t % 2:
                    runner.perform(task.id)
                else:
                    runner.on_learner_command(runner.solution_command(task.id))
            except CommandError:
                pass  # lessons check --run reports these
        for question in step.questions:
            try:
                runner.answer(question.id, question.answer)
            except LessonUsageError:
                pass
        runner.history.run_for(150)
    runner.goto(max(0, len(lesson.steps) - 2))
    return runner


@pytest.mark.parametrize("lesson_id", sorted(LESSONS))
def test_every_lesson_redone_from_its_journal_is_the_same(lesson_id: str) -> None:
    lesson = LESSONS[lesson_id]
    live = play(lesson)
    again = redone(live)
    assert json.loads(json.dumps(again.state())) == json.loads(json.dumps(live.state()))
    assert again.journal == live.journal
    assert again.history.log == live.history.log
    assert snapshot(again.history.cluster) == snapshot(live.history.cluster)


def test_a_show_me_that_would_not_do_its_task_changes_nothing_and_redoes_exactly(
    make_store: Callable[[], SessionStore],
) -> None:
    """Found by test_lesson_journal_stateful.py. Step 4's task asks for a write to the leader
    as the step began (n3); the learner crashes n3, and the solution's "$leader" now names n1.
    "Show me" used to write to n1 anyway, complete nothing, and leave that write out of the
    journal: the redo (and so a restore) came out one command short of the live run."""
    m = manager(make_store())
    s = m.open(None)
    lesson = start(m, s, SPLIT_BRAIN)
    lesson_act(m, s, lambda r: r.goto(1))
    timed(m, s, lambda: s.advance(10))
    learner(m, s, {"type": "crash", "node": "n1"})
    lesson_act(m, s, lambda r: r.goto(0))
    timed(m, s, lambda: s.advance(10))
    timed(m, s, lambda: s.advance(10))
    lesson_act(m, s, lambda r: r.goto(4))
    learner(m, s, {"type": "crash", "node": "n3"})
    assert lesson.solution_command("write-b-again")["node"] == "n1"
    log, journal, before = list(lesson.history.log), list(lesson.journal), state(s)
    with pytest.raises(CommandError, match=r"'write-b-again' cannot be done for you now.*"
                                           r'"node":"n1".*"node":"n3"'):
        lesson.perform("write-b-again")
    assert lesson.history.log == log and lesson.journal == journal and state(s) == before
    again = redone(lesson)
    assert again.history.log == lesson.history.log
    assert snapshot(again.history.cluster) == snapshot(lesson.history.cluster)
    mb = manager(make_store())  # another worker, or this one restarted
    back = mb.open(s.token)
    assert_same(s, back)

    # "Show me" still does the task its solution fits; both copies go on the same way.
    lesson.perform("write-a-again")
    lesson_act(mb, back, lambda r: r.perform("write-a-again"))
    assert [t["done_by"] for t in state(back)["step"]["tasks"]] == ["lesson", None]
    assert lesson.journal[-1]["op"] == "perform"
    assert redone(lesson).history.log == lesson.history.log
    assert_same(s, back)
    assert_same(s, manager(make_store()).open(s.token))


def test_a_long_journal_is_written_cut_appended_and_removed(
    make_store: Callable[[], SessionStore],
) -> None:
    """The store's own contract for lesson records (Redis sends long appends in chunks)."""
    store = make_store()
    position = Position(0, 0.0, 0.0, 0.05)
    entries = tuple(json.dumps({"op": "command", "n": i}) for i in range(4500))
    header = json.dumps({"version": 1, "id": "x", "digest": "d"})
    commands = [json.dumps({"n": i}) for i in range(2100)]
    assert store.write("t", 1, config="{}", keep=0, commands=commands, position=position,
                       ttl=60, lesson=LessonWrite(header, 0, entries))
    run = store.claim("t")
    assert run is not None and run.lesson == header and run.journal == entries
    assert run.commands == commands
    more = (json.dumps({"op": "answer"}),)
    assert store.write("t", run.epoch, config=None, keep=2100, commands=[], position=position,
                       ttl=60, lesson=LessonWrite(header, 4000, more))
    run = store.claim("t")
    assert run is not None and run.journal == entries[:4000] + more
    assert store.write("t", run.epoch, config=None, keep=2100, commands=[], position=position,
                       ttl=60)  # no lesson change: it stays
    run = store.claim("t")
    assert run is not None and run.journal == entries[:4000] + more
    assert store.write("t", run.epoch, config=None, keep=2100, commands=[], position=position,
                       ttl=60, lesson=LessonWrite(None))
    run = store.claim("t")
    assert run is not None and run.lesson is None and run.journal == ()
    assert run.commands == commands
