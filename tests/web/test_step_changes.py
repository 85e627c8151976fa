"""Frames carry what a single step changed, and stop carrying it once the run moves on."""

from __future__ import annotations

from .conftest import Page


def test_a_step_frame_names_what_changed_and_the_next_frame_clears_it(tab: Page) -> None:
    tab.player(action="advance", ms=140)
    for _ in range(200):
        before = {n["id"]: n for n in tab.state["nodes"]}
        assert tab.player(action="step")["stepped"] is True
        tab.receive()
        changed = tab.frames[-1]["changed"]
        if changed:
            break
    else:
        raise AssertionError("no step changed anything")
    for node, what in changed.items():
        after = tab.node(node)
        for field, (old, new) in what.items():
            if field in ("term", "role", "voted_for", "commit_index"):
                assert before[node][field] == old and after[field] == new
    tab.player(action="advance", ms=10)
    tab.receive()
    assert tab.frames[-1]["changed"] is None
    tab.assert_in_sync()
