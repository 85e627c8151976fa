"""The JSON encoder of outgoing Socket.IO packets: orjson, with the standard library as fallback.

A playing session's frame is a few kilobytes of small dicts and floats; the standard library's
encoder spent as long on it as building the frame did (bench/README.md, "Frame cost"). orjson
writes the same JSON text the page parses into the same values, with two differences that do
not reach the page: characters outside ASCII are written as UTF-8 instead of ``\\uXXXX``
escapes (JSON.parse reads both as the same string), and a float is written in its shortest
form without Python's ``e+`` / ``e-0`` padding (``1e16`` instead of ``1e+16``: the same number).
Whatever orjson refuses (a non-string key, an integer beyond 64 bits, a lone surrogate) and
every call with options other than exactly the compact separators Socket.IO passes fall back to
the standard library, so the output is never worse than before. A non-finite float is the one
value the two write differently: the standard library's ``NaN`` would make the page's
JSON.parse throw away the whole frame, orjson writes ``null``; no frame field can hold one.

Incoming packets are still decoded by the standard library, so the handlers' input checks see
exactly what they saw before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

COMPACT = (",", ":")


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps(obj, separators=(",", ":"))``'s text, written by orjson when it can."""
    if kwargs.keys() == {"separators"} and tuple(kwargs["separators"]) == COMPACT:
        try:
            return orjson.dumps(obj).decode()
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(obj, **kwargs)


loads = json.loads
