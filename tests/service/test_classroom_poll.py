"""A classroom's poll carried to another worker (raftviz/web/cluster_events.py) as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from raftviz.service.classroom import ClassroomError, Poll


def test_a_poll_round_trips_through_json() -> None:
    poll = Poll("Who leads next?", ["n2", "n3", "nobody"], {"sid-a": 0, "sid-b": 2})
    poll.open = False
    poll.correct = 2
    again = Poll.from_json(json.loads(json.dumps(poll.to_json())))
    assert again == poll
    assert again.tally() == [1, 0, 1]


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"question": ""}, "question"),
        ({"question": 7}, "question"),
        ({"choices": ["only one"]}, "choices"),
        ({"choices": ["a", 2]}, "choices"),
        ({"answers": {"sid": 3}}, "answers"),
        ({"answers": {"sid": True}}, "answers"),
        ({"answers": []}, "answers"),
        ({"open": "yes"}, "open or correct"),
        ({"correct": -1}, "open or correct"),
    ],
)
def test_stored_poll_content_is_checked(change: dict[str, Any], complaint: str) -> None:
    good = Poll("Q?", ["a", "b", "c"], {"sid": 1}).to_json()
    with pytest.raises(ClassroomError, match=complaint):
        Poll.from_json({**good, **change})


def test_a_stored_poll_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ClassroomError, match="not an object"):
        Poll.from_json(["Q?", ["a", "b"]])
