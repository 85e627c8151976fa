"""The JSON Schema (Draft 2020-12) of a lesson file: its structure only.

What the schema cannot say (that a command parses, that a node exists in this cluster, that a
probe is known, that an answer is among the choices) is checked by
:func:`raftviz.lessons.model.parse_lesson`. docs/lessons.md describes every field.
"""

from __future__ import annotations

from typing import Any

ID_PATTERN = "^[a-z0-9][a-z0-9-]{0,47}$"

_ID = {"type": "string", "pattern": ID_PATTERN}
_TITLE = {"type": "string", "minLength": 1, "maxLength": 120}
_TEXT = {"type": "string", "minLength": 1, "maxLength": 8000}
_SCALAR = {"type": ["string", "number", "boolean", "null"]}
_VALUE = {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR, "maxItems": 16}]}
_COMMAND = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}},
}
_NAMED = {"type": ["string", "object"]}  # a bare name or a one-key mapping (checked later)

_ACTION = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "additionalProperties": False,
    "properties": {
        "command": _COMMAND,
        "run": {
            "type": "object",
            "required": ["ms"],
            "additionalProperties": False,
            "properties": {"ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 60000}},
        },
        "run_until": {
            "type": "object",
            "minProperties": 1,
            "properties": {"max_ms": {"type": "number", "exclusiveMinimum": 0, "maximum": 60000}},
        },
    },
}
_ACTIONS = {"type": "array", "items": _ACTION, "maxItems": 40}

_TASK = {
    "type": "object",
    "required": ["id", "text", "match"],
    "additionalProperties": False,
    "properties": {
        "id": _ID,
        "text": _TEXT,
        "match": _COMMAND,
        "solution": _COMMAND,
        "hint": _TEXT,
        "hint_after_ms": {"type": "number", "minimum": 0},
        "hint_after_s": {"type": "number", "minimum": 0},
        "then": _ACTIONS,
    },
}

_CHOICE = {
    "type": "object",
    "required": ["label", "value"],
    "additionalProperties": False,
    "properties": {"label": {"type": "string", "minLength": 1, "maxLength": 200}, "value": _VALUE},
}

_WATCH = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": False,
    "properties": {
        "node": {"type": "string"},
        "kind": {"type": "string"},
        "text": {"type": "string", "minLength": 1},
        "at_ms": {"type": "number", "minimum": 0},
    },
}

_QUESTION = {
    "type": "object",
    "required": ["id", "prompt", "answer", "explanation"],
    "additionalProperties": False,
    "properties": {
        "id": _ID,
        "kind": {"enum": ["choice", "number"]},
        "prompt": _TEXT,
        "choices": {"type": "array", "minItems": 2, "maxItems": 8, "items": _CHOICE},
        "answer": _VALUE,
        "tolerance": {"type": "number", "minimum": 0},
        "explanation": _TEXT,
        "predict": {"type": "boolean"},
        "probe": _NAMED,
        "then": _ACTIONS,
        "watch": {"type": "array", "items": _WATCH, "maxItems": 8},
    },
}

_STEP = {
    "type": "object",
    "required": ["id", "title", "text"],
    "additionalProperties": False,
    "properties": {
        "id": _ID,
        "title": _TITLE,
        "text": _TEXT,
        "setup": {"type": "object"},
        "actions": _ACTIONS,
        "tasks": {"type": "array", "items": _TASK, "maxItems": 8},
        "questions": {"type": "array", "items": _QUESTION, "maxItems": 8},
        "expect": {"type": "array", "items": _NAMED, "maxItems": 16},
    },
}

LESSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://raftviz.invalid/schemas/lesson.json",
    "title": "raftviz lesson or interview card",
    "type": "object",
    "required": ["id", "title", "summary", "minutes", "section", "setup", "steps"],
    "additionalProperties": False,
    "properties": {
        "kind": {"enum": ["lesson", "interview"]},
        "id": _ID,
        "title": _TITLE,
        "summary": {"type": "string", "minLength": 1, "maxLength": 600},
        "minutes": {"type": "number", "exclusiveMinimum": 0, "maximum": 120},
        "section": {
            "anyOf": [
                {"type": "string", "minLength": 1},
                {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            ]
        },
        "setup": {"type": "object"},
        "steps": {"type": "array", "minItems": 1, "maxItems": 12, "items": _STEP},
    },
}
