"""WCAG 2.2 AA in a real browser: axe-core audits every page state a student or teacher meets.

axe-core (vendored from npm under tests/e2e/vendor/axe-core/, test-only) is injected into the
page and run against WCAG 2.0/2.1/2.2 A and AA rules plus axe's best practices. Any violation
of impact "serious" or "critical" fails the test, with the rule, the element and axe's advice
in the message. Minor and moderate findings are reported in the test output but do not fail.

The page's Content-Security-Policy forbids inline scripts, so these contexts bypass CSP to
inject axe (the only difference from what a student's browser gets).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LAPTOP, Lab

AXE_JS = (Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js").read_text()
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
FAILING_IMPACTS = {"serious", "critical"}

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, { runOnly: { type: "tag", values: tags } });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
  }));
}"""


def audit(page: Any, state: str) -> list[dict[str, Any]]:
    """Run axe on the page as it is now; fail on serious or critical violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(content=AXE_JS)
    violations = page.evaluate(RUN_AXE, RULE_TAGS)
    for v in violations:  # shown with -rA or on failure: the minor ones too
        print(f"[{state}] {v['impact']}: {v['id']} ({len(v['nodes'])}): {v['help']}")
    serious = [v for v in violations if v["impact"] in FAILING_IMPACTS]
    if serious:
        lines = [f"axe found {len(serious)} serious/critical violation(s) in state '{state}':"]
        for v in serious:
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']}")
            for node in v["nodes"][:5]:
                summary = " ".join(node["summary"].split())
                lines.append(f"    {node['target']}: {summary}")
        pytest.fail("\n".join(lines), pytrace=False)
    return violations


@pytest.fixture
def a11y_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """New pages in CSP-bypassing contexts (to inject axe), closed after the test."""
    contexts: list[Any] = []

    def new_page(viewport: dict[str, int] = LAPTOP, **options: Any) -> Any:
        ctx = browser.new_context(viewport=viewport, bypass_csp=True, **options)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15000)
        return page

    yield new_page
    for ctx in contexts:
        ctx.close()


def test_lab_states_have_no_serious_violations(
    a11y_page: Any, server_url: str, save_screenshot: Any
) -> None:
    lab = Lab(a11y_page(), server_url + "/").open()
    page = lab.page
    audit(page, "lab, before start")

    lab.fast()
    lab.play()
    leader = lab.leader()
    lab.pause()
    audit(page, "lab, leader elected")

    menu = lab.open_menu(leader)
    audit(page, "lab, node menu open")
    menu.get_by_test_id("action-crash").click()
    expect(lab.node(leader)).to_have_attribute("data-state", "crashed")
    page.keyboard.press("Escape")
    audit(page, "lab, leader crashed")

    for tab in ("Safety", "Metrics", "Data"):
        page.get_by_role("tab", name=tab).click()
        audit(page, f"lab, {tab} tab")

    page.keyboard.press("?")
    expect(page.get_by_test_id("help-overlay")).to_be_visible()
    audit(page, "lab, keyboard help")
    page.keyboard.press("Escape")

    for view in ("spacetime", "ophistory"):  # the views of the whole run (issue 10)
        page.get_by_test_id(f"view-{view}").click()
        expect(page.get_by_test_id(f"view-{view}")).to_have_attribute("aria-selected", "true")
        audit(page, f"lab, {view} view")
    page.get_by_test_id("view-cluster").click()

    page.get_by_test_id("protocol-multi").check(force=True)
    expect(page.locator("body")).to_have_attribute("data-protocol", "multi")
    audit(page, "lab, Multi-Paxos view")
    save_screenshot(page, "paxos")


def test_lesson_and_interview_have_no_serious_violations(
    a11y_page: Any, server_url: str
) -> None:
    page = a11y_page()
    Lab(page, server_url + "/?lesson=split-brain&step=1").open()
    expect(page.get_by_test_id("lesson-step-title")).to_be_visible(timeout=15000)
    audit(page, "lesson step")

    Lab(page, server_url + "/?lesson=two-of-five-down&step=0").open()
    expect(page.get_by_test_id("lesson-step-title")).to_be_visible(timeout=15000)
    audit(page, "interview card")


def test_classroom_presenter_and_student_have_no_serious_violations(
    a11y_page: Any, server_url: str
) -> None:
    host = Lab(a11y_page(), server_url + "/").open().page
    host.get_by_test_id("classroom-button").click()
    code_box = host.get_by_test_id("class-code")
    expect(code_box).to_have_text(re.compile(r"^[A-Z0-9]{6}$"))
    code = code_box.inner_text().strip()
    audit(host, "classroom presenter")

    student = Lab(a11y_page(), f"{server_url}/join/{code}").open().page
    expect(student.get_by_test_id("classroom-banner")).to_contain_text("read-only")
    audit(student, "classroom student")

    host.get_by_test_id("poll-question").fill("Who leads next?")
    host.get_by_test_id("poll-choices").fill("n1\nsomeone else")
    host.get_by_test_id("poll-open").click()
    expect(student.get_by_test_id("poll-choice-0")).to_be_visible()
    audit(host, "classroom presenter, poll open")
    audit(student, "classroom student, poll open")


def test_phone_and_zoomed_layouts_have_no_serious_violations(
    a11y_page: Any, server_url: str, save_screenshot: Any
) -> None:
    phone = a11y_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    Lab(phone, server_url + "/").open()
    audit(phone, "phone 390x844")
    save_screenshot(phone, "phone")
    # 200% zoom of a 1366x768 laptop is a 683x384 CSS-pixel viewport.
    zoomed = a11y_page(viewport={"width": 683, "height": 384})
    Lab(zoomed, server_url + "/").open()
    audit(zoomed, "200% zoom")
    save_screenshot(zoomed, "zoom200", full_page=False)
