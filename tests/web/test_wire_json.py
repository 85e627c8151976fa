"""Socket.IO packets written by orjson parse to exactly what the standard library writes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from socketio import packet

from raftviz.service.frame_state import FrameState
from raftviz.sim.history import CONDITIONS, History, config_from_json
from raftviz.web import TextPacket, wire_json
from raftviz.web.frames import build_frame

COMPACT = (",", ":")


def _same_values(value: Any) -> str:
    """Encode ``value`` both ways; assert they parse alike; return orjson's text."""
    ours = wire_json.dumps(value, separators=COMPACT)
    theirs = json.dumps(value, separators=COMPACT)
    assert json.loads(ours) == json.loads(theirs)
    assert repr(json.loads(ours)) == repr(json.loads(theirs))  # -0.0 and 0.0 compare equal
    return ours


@pytest.mark.parametrize(
    "value",
    [
        0.1, 1e16, 1e-7, -0.0, 5e-324, 1.7976931348623157e308, 123456789.123, 2.5, 1 / 3,
        2**63 - 1, -(2**63), True, None, "", "plain", "héllo ✓ 日本", "quote \" back \\ tab \t",
        "\u2028 \u2029 \x00 \x1f", [], {}, {"nested": [1, [2.0, {"a": None}]]}, (1, "tuple"),
    ],
)
def test_values_parse_as_the_standard_library_writes_them(value: Any) -> None:
    _same_values(value)


@pytest.mark.parametrize(
    "value",
    [
        2**70,  # beyond 64 bits
        {1: "int key"},  # JSON keys are strings: the standard library converts
        "lone surrogate \ud800",
    ],
)
def test_what_orjson_refuses_or_writes_otherwise_falls_back_to_the_same_text(value: Any) -> None:
    assert wire_json.dumps(value, separators=COMPACT) == json.dumps(value, separators=COMPACT)


def test_calls_with_other_options_get_the_standard_librarys_exact_text() -> None:
    value = {"b": 1, "a": "é"}
    assert wire_json.dumps(value) == json.dumps(value)
    assert wire_json.dumps(value, indent=2) == json.dumps(value, indent=2)
    assert wire_json.dumps(value, separators=COMPACT, sort_keys=True) == json.dumps(
        value, separators=COMPACT, sort_keys=True
    )


def test_a_non_finite_float_becomes_null_instead_of_text_json_parse_rejects() -> None:
    assert wire_json.dumps([math.nan, math.inf], separators=COMPACT) == "[null,null]"


def test_frames_of_a_busy_run_parse_alike_and_socketio_packets_use_orjson() -> None:
    h = History(config_from_json({"seed": 5}))
    assert h.run_until_condition(CONDITIONS["leader"], 5000)
    h.apply_json({"type": "client", "op": "set", "key": "ключ", "value": "värde ✓"})
    h.apply_json({"type": "workload", "rate": 80, "keys": 3, "read_ratio": 0.3})
    state = FrameState()
    texts = []
    for _ in range(40):
        h.run_for(37)
        frame = build_frame(h.cluster, state, {"playing": True}, version=(h.cursor, len(h.log)))
        texts.append(_same_values(frame))
        encoded = TextPacket(packet.EVENT, namespace="/", data=["frame", frame]).encode()
        assert encoded == "2" + _same_values(["frame", frame])
    assert any('"ключ":"värde ✓"' in text for text in texts)  # UTF-8, not \u escapes
