"""The lesson player in a real browser: pick a lesson, go through it with Next, Back and the
outline, answer a question, open a deep link to a step, play an interview card.

Step titles come from the lesson files (raftviz.lessons is plain Python, safe to import here).
Each test leaves screenshots in out/screens/ for a person to look at.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from raftviz.lessons import LESSONS_FOLDER, load_lessons

LESSONS = {x.id: x for x in load_lessons(LESSONS_FOLDER)[0]}
SPLIT_BRAIN = LESSONS["split-brain"]
TITLES = [s.title for s in SPLIT_BRAIN.steps]


def start_lesson(lab: Any, lesson_id: str) -> None:
    page = lab.page
    page.get_by_test_id("lessons-button").click()
    expect(page.get_by_test_id("lesson-picker")).to_be_visible()
    page.get_by_test_id(f"lesson-item-{lesson_id}").click()
    expect(page.get_by_test_id("lesson-picker")).to_be_hidden()
    expect(page.get_by_test_id("lesson-panel")).to_be_visible()


def step_title(lab: Any) -> Any:
    return lab.page.get_by_test_id("lesson-step-title")


def boxes_overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
    )


def test_next_back_and_outline_move_through_the_lesson(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    start_lesson(lab, "split-brain")
    expect(page.get_by_test_id("lesson-title")).to_have_text(SPLIT_BRAIN.title)
    expect(step_title(lab)).to_have_text(TITLES[0])
    expect(page.get_by_test_id("lesson-progress")).to_have_text(f"1 / {len(TITLES)}")
    expect(page).to_have_url(re.compile(r"[?&]lesson=split-brain&step=0"))
    # The panel does not cover the cluster on a laptop screen.
    cluster = page.get_by_test_id("cluster").bounding_box()
    panel = page.get_by_test_id("lesson-panel").bounding_box()
    assert cluster and panel and not boxes_overlap(cluster, panel)
    assert cluster["width"] > 400 and cluster["height"] > 200
    save_screenshot(page, "step0", full_page=False)

    back_box = page.get_by_test_id("lesson-back").bounding_box()
    next_box = page.get_by_test_id("lesson-next").bounding_box()
    page.get_by_test_id("lesson-next").click()
    expect(step_title(lab)).to_have_text(TITLES[1])
    start_of_step1 = lab.sim_time()
    # Back and Next stay where they were.
    assert page.get_by_test_id("lesson-back").bounding_box() == back_box
    assert page.get_by_test_id("lesson-next").bounding_box() == next_box

    # The learner acts on the canvas: the task counts, then time moves on.
    page.get_by_test_id("preset-isolate-leader").click()
    expect(page.get_by_test_id("lesson-task-isolate-n1")).to_have_attribute("data-done", "true")
    # A prediction now waits: the page keeps the player paused until the learner answers.
    play = page.get_by_test_id("play-button")
    play.click()
    expect(play).to_have_attribute("data-playing", "false")
    page.get_by_test_id("advance-1000").click()
    lab.wait_until(lambda: lab.sim_time() >= start_of_step1 + 1000, what="time to move on")
    expect(page.get_by_test_id("lesson-return")).to_be_visible()
    save_screenshot(page, "step1-off-script", full_page=False)

    # Back to step 0, then Next again: step 1 begins as it did, the clock back where it was.
    page.get_by_test_id("lesson-back").click()
    expect(step_title(lab)).to_have_text(TITLES[0])
    lab.wait_until(lambda: lab.sim_time() < start_of_step1 + 1000, what="the clock to go back")
    page.get_by_test_id("lesson-next").click()
    expect(step_title(lab)).to_have_text(TITLES[1])
    lab.wait_until(lambda: lab.sim_time() == start_of_step1, what="step 1's own start time")
    expect(page.get_by_test_id("lesson-task-isolate-n1")).to_have_attribute("data-done", "false")

    # The outline jumps anywhere.
    page.get_by_test_id("lesson-outline-toggle").click()
    expect(page.get_by_test_id("lesson-outline")).to_be_visible()
    save_screenshot(page, "outline", full_page=False)
    page.get_by_test_id("lesson-outline-3").click()
    expect(step_title(lab)).to_have_text(TITLES[3])
    expect(page).to_have_url(re.compile(r"[?&]step=3"))
    save_screenshot(page, "step3", full_page=False)


def test_answering_a_question_shows_the_grading_and_keeps_progress(
    lab: Any, save_screenshot: Any
) -> None:
    page = lab.page
    start_lesson(lab, "split-brain")
    question = SPLIT_BRAIN.steps[0].questions[0]
    page.get_by_test_id(f"lesson-number-{question.id}").fill(str(question.answer))
    page.get_by_test_id(f"lesson-go-{question.id}").click()
    grading = page.get_by_test_id("lesson-grading")
    expect(grading).to_be_visible()
    expect(grading).to_have_attribute("data-correct", "true")
    expect(grading).to_contain_text("Right")
    save_screenshot(page, "graded", full_page=False)
    # Progress is kept in the browser and shown in the picker.
    page.get_by_test_id("lessons-button").click()
    expect(page.get_by_test_id("lesson-item-split-brain")).to_contain_text(
        f"1 of {len(TITLES)} done"
    )
    save_screenshot(page, "picker", full_page=False)


def test_a_deep_link_opens_the_lesson_at_its_step(
    page: Any, open_lab: Any, save_screenshot: Any
) -> None:
    lab = open_lab(page, "/?lesson=split-brain&step=2")
    expect(step_title(lab)).to_have_text(TITLES[2])
    expect(page.get_by_test_id("lesson-progress")).to_have_text(f"3 / {len(TITLES)}")
    expect(page.get_by_test_id("lesson-deeplink")).to_have_attribute(
        "href", re.compile(r"\?lesson=split-brain&step=2$")
    )
    save_screenshot(page, full_page=False)
    # Hide gives the column back to Inspect; the lesson comes back as it was.
    page.get_by_test_id("lesson-hide").click()
    expect(page.get_by_test_id("lesson-panel")).to_be_hidden()
    expect(page.get_by_test_id("inspector")).to_be_visible()
    page.get_by_test_id("lesson-show").click()
    expect(step_title(lab)).to_have_text(TITLES[2])
    # Resetting the cluster ends the lesson: the panel goes, the address loses the lesson.
    page.get_by_test_id("reset-button").click()
    expect(page.get_by_test_id("lesson-panel")).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"lesson="))


def test_an_interview_card_predicts_then_runs_and_scores(lab: Any, save_screenshot: Any) -> None:
    page = lab.page
    card = LESSONS["two-of-five-down"]
    question = card.steps[0].questions[0]
    start_lesson(lab, card.id)
    expect(step_title(lab)).to_have_text(card.steps[0].title)
    before = lab.sim_time()
    page.get_by_test_id(f"lesson-choice-{question.id}-{question.answer}").click()
    page.get_by_test_id(f"lesson-go-{question.id}").click()
    expect(page.get_by_test_id("lesson-grading")).to_have_attribute("data-correct", "true")
    expect(page.get_by_test_id("lesson-summary")).to_contain_text("1 of 1 answers right")
    lab.wait_until(lambda: lab.sim_time() > before, what="the card's scenario to run")
    save_screenshot(page, full_page=False)
    # Each event the explanation points at is a button: Enter on it jumps the timeline there.
    watched = page.get_by_test_id("lesson-watch-item").first
    expect(watched).to_be_visible()
    target = float(watched.get_attribute("data-time") or "nan")
    assert abs(lab.sim_time() - target) > 100
    watched.focus()
    page.keyboard.press("Enter")
    lab.wait_until(lambda: abs(lab.sim_time() - target) <= 1, what="the watched event's time")
    save_screenshot(page, "watch-jump", full_page=False)
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.get_by_test_id("projector-toggle").click()
    save_screenshot(page, "projector", full_page=False)
