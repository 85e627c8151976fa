"""Lesson files: read them safely, validate them, and turn them into frozen records.

A lesson file is YAML read with a safe loader that also refuses aliases and duplicate keys and
reads only ``true``/``false`` as booleans (so ``on:`` stays a key, as the ``manual`` command
needs). It is checked in two passes: the JSON Schema in :mod:`raftviz.lessons.schema` for its
structure, then :func:`parse_lesson` for its meaning (commands parse, nodes exist in the
cluster of that step, conditions and probes are known, answers are among the choices, ids are
unique). Every problem is a :class:`LessonError` naming the file, the step and the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from raftviz.core.messages import Op, ReadMode
from raftviz.lessons.markdown import markdown_problems
from raftviz.lessons.probes import (
    condition_problems,
    message_problems,
    node_problem,
    probe_problems,
)
from raftviz.lessons.schema import LESSON_SCHEMA
from raftviz.sim import config as config_schema
from raftviz.sim.engine.cluster import ClusterConfig, CommandError
from raftviz.sim.engine.commands import COMMANDS, parse_command
from raftviz.sim.history import config_from_json

MAX_FILE_BYTES = 512 * 1024
NODE_FIELDS = ("node", "src", "dst")
# Matcher keys beyond a command's own fields.
MATCH_EXTRAS = {"partition": ("isolates", "separates"), "deliver": ("message",),
                "drop": ("message",)}
COMPARATORS = frozenset({"lt", "le", "gt", "ge", "one_of"})
DEFAULT_MAX_MS = 5000.0


# ------------------------------------------------------------------------ records


@dataclass(frozen=True, slots=True)
class LessonError:
    """One problem in a lesson file, located by file, step and field."""

    file: str
    message: str
    step: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.file + ":"]
        if self.step is not None:
            where.append(f"step {self.step}")
        if self.field:
            where.append(self.field + ":")
        elif self.step is not None:
            where[-1] += ":"
        return " ".join([*where, self.message])


@dataclass(frozen=True, slots=True)
class Action:
    """``{command: {...}}``, ``{run: {ms}}`` or ``{run_until: {<condition>, max_ms}}``."""

    kind: str
    where: str
    command: dict[str, Any] | None = None
    ms: float = 0.0
    condition: Any = None
    max_ms: float = DEFAULT_MAX_MS


@dataclass(frozen=True, slots=True)
class Task:
    """Something the learner does, recognised by a matcher on the learner's commands."""

    id: str
    text: str
    match: dict[str, Any]
    solution: dict[str, Any]
    hint: str | None = None
    hint_after_ms: float | None = None
    hint_after_s: float | None = None
    then: tuple[Action, ...] = ()


@dataclass(frozen=True, slots=True)
class Choice:
    label: str
    value: Any


@dataclass(frozen=True, slots=True)
class Question:
    """A quiz question, or (``predict``) a prediction graded by what the simulation does."""

    id: str
    kind: str
    prompt: str
    answer: Any
    explanation: str
    choices: tuple[Choice, ...] = ()
    tolerance: float = 0.0
    predict: bool = False
    probe: Any = None
    then: tuple[Action, ...] = ()
    watch: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    title: str
    text: str
    setup: ClusterConfig | None = None
    actions: tuple[Action, ...] = ()
    tasks: tuple[Task, ...] = ()
    questions: tuple[Question, ...] = ()
    expect: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Lesson:
    """A lesson (``kind: lesson``) or an interview card (``kind: interview``)."""

    id: str
    kind: str
    title: str
    summary: str
    minutes: float
    sections: tuple[str, ...]
    setup: ClusterConfig
    steps: tuple[Step, ...]
    file: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def summary_json(self) -> dict[str, Any]:
        """What a lesson list shows."""
        return {
            "id": self.id,
            "kind": self.kind,
            "title": self.title,
            "summary": self.summary,
            "minutes": self.minutes,
            "section": list(self.sections),
            "steps": len(self.steps),
            "file": self.file,
        }


# ------------------------------------------------------------------------ YAML


class _Loader(yaml.SafeLoader):
    """Safe YAML with YAML 1.2 booleans, dates left as text, no aliases, no duplicate keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in lesson files", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value", key_node.start_mark
                ) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(text: str) -> Any:
    """Parse lesson YAML; raises yaml.YAMLError (with a position) for anything it refuses."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [p for p in (exc.context, exc.problem) if p]
        text = "; ".join(parts) or "cannot be parsed"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
        return f"malformed YAML: {text}"
    return f"malformed YAML: {exc}"


# ------------------------------------------------------------------------ loading


def load_lesson_file(path: Path, display: str | None = None) -> tuple[Lesson | None,
                                                                        list[LessonError]]:
    """Read, validate and build one lesson; on any error the lesson is None."""
    name = display or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [LessonError(name, f"cannot read the file: {exc.strerror or exc}")]
    if len(raw) > MAX_FILE_BYTES:
        return None, [LessonError(name, f"file is larger than {MAX_FILE_BYTES // 1024} KiB")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, [LessonError(name, "file is not UTF-8 text")]
    return parse_lesson_text(text, name)


def parse_lesson_text(text: str, name: str) -> tuple[Lesson | None, list[LessonError]]:
    try:
        data = read_yaml(text)
    except yaml.YAMLError as exc:
        return None, [LessonError(name, _yaml_message(exc))]
    except RecursionError:
        return None, [LessonError(name, "malformed YAML: nested too deeply")]
    return parse_lesson(data, name)


def load_lessons(folder: Path) -> tuple[list[Lesson], list[LessonError]]:
    """Every lesson in ``folder/*.yaml`` and ``folder/interview/*.yaml``, in file-name order.

    A broken file is left out and reported; the others still load.
    """
    lessons: list[Lesson] = []
    errors: list[LessonError] = []
    seen: dict[str, str] = {}
    paths = sorted(folder.glob("*.yaml")) + sorted((folder / "interview").glob("*.yaml"))
    for path in paths:
        display = _display(path, folder)
        lesson, problems = load_lesson_file(path, display)
        if lesson is not None and lesson.id in seen:
            problems = [LessonError(display, f"lesson id {lesson.id!r} is already used by "
                                             f"{seen[lesson.id]}", field="id")]
            lesson = None
        errors += problems
        if lesson is not None:
            seen[lesson.id] = display
            lessons.append(lesson)
    return lessons, errors


def catalog(lessons: list[Lesson], errors: list[LessonError]) -> dict[str, Any]:
    """The lesson list for the page: lessons and cards in order, and the unavailable files."""
    return {
        "lessons": [x.summary_json() for x in lessons if x.kind == "lesson"],
        "interview": [x.summary_json() for x in lessons if x.kind == "interview"],
        "unavailable": [
            {"file": file, "errors": [str(e) for e in errors if e.file == file]}
            for file in dict.fromkeys(e.file for e in errors)
        ],
    }


def _display(path: Path, folder: Path) -> str:
    try:
        return str(Path(folder.name) / path.relative_to(folder))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------ validation


class _Problems:
    """Collects problems for one file, each located by step and field; also knows the protocol
    of the cluster in effect (settings names differ between Raft and Paxos)."""

    def __init__(self, file: str, steps: list[Any]) -> None:
        self.file = file
        self.steps = steps
        self.items: list[LessonError] = []
        self.protocol = "raft"

    def step_name(self, index: int) -> str:
        step = self.steps[index] if index < len(self.steps) else None
        if isinstance(step, dict) and isinstance(step.get("id"), str):
            return repr(step["id"])
        return f"#{index + 1}"

    def add(self, message: str, step: int | None = None, where: str | None = None) -> None:
        name = self.step_name(step) if step is not None else None
        self.items.append(LessonError(self.file, message, name, where))


def _schema_problems(data: Any, problems: _Problems) -> None:
    validator = jsonschema.Draft202012Validator(LESSON_SCHEMA)
    seen: set[tuple[str, int | None, str]] = set()
    for error in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path))):
        path = list(error.absolute_path)
        step = None
        if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
            step = path[1]
            path = path[2:]
        # "required" is reported once per missing field; the message already names them all.
        key = (_schema_message(error), step, _field_path(path))
        if key not in seen:
            seen.add(key)
            problems.add(key[0], step, key[2] or None)


def _field_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_message(error: jsonschema.ValidationError) -> str:
    instance = error.instance
    match error.validator:
        case "required":
            missing = [k for k in error.validator_value if k not in instance]
            return "missing field " + ", ".join(repr(k) for k in missing)
        case "additionalProperties":
            known = error.schema.get("properties", {})
            extra = sorted(str(k) for k in instance if k not in known)
            return f"unknown field {', '.join(map(repr, extra))}; fields are " + ", ".join(known)
        case "type":
            expected = error.validator_value
            names = expected if isinstance(expected, list) else [expected]
            return f"must be {' or '.join(map(_type_name, names))}, got {_shown(instance)}"
        case "pattern":
            return (f"{_shown(instance)} is not a valid id: use lowercase letters, digits and "
                    f"dashes (at most 48)")
        case "enum":
            return f"must be one of {', '.join(map(str, error.validator_value))}, " \
                   f"got {_shown(instance)}"
        case "minProperties" | "maxProperties" if "command" in error.schema.get("properties", {}):
            return "an action is exactly one of command, run, run_until"
        case "minItems":
            return f"needs at least {error.validator_value} item(s)"
        case "maxItems":
            return f"has more than {error.validator_value} items"
        case "anyOf":
            return f"must be a text or a list of texts, got {_shown(instance)}"
    return str(error.message)


def _type_name(name: str) -> str:
    return {"object": "a mapping", "array": "a list", "string": "a text", "number": "a number",
            "boolean": "true or false", "null": "null", "integer": "a whole number"}.get(
        name, name)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_lesson(data: Any, file: str) -> tuple[Lesson | None, list[LessonError]]:
    """Validate parsed YAML and build the lesson (None and the problems if it is broken)."""
    steps_raw = data.get("steps") if isinstance(data, dict) else None
    problems = _Problems(file, steps_raw if isinstance(steps_raw, list) else [])
    if not isinstance(data, dict):
        problems.add(f"a lesson file is a mapping of fields, got {_shown(data)}")
        return None, problems.items
    _schema_problems(data, problems)
    if problems.items:
        return None, problems.items
    lesson = _build(data, file, problems)
    if problems.items:
        return None, problems.items
    return lesson, []


def _config(raw: Any, problems: _Problems, step: int | None) -> ClusterConfig | None:
    try:
        return config_from_json(raw)
    except CommandError as exc:
        problems.add(str(exc), step, "setup")
        return None


def _build(data: dict[str, Any], file: str, problems: _Problems) -> Lesson | None:
    kind = data.get("kind", "lesson")
    setup = _config(data["setup"], problems, None)
    size = setup.size if setup else 9
    problems.protocol = setup.protocol if setup else "raft"
    steps: list[Step] = []
    step_ids: set[str] = set()
    task_ids: set[str] = set()
    question_ids: set[str] = set()
    for i, raw in enumerate(data["steps"]):
        if raw["id"] in step_ids:
            problems.add(f"step id {raw['id']!r} is used twice", i, "id")
        step_ids.add(raw["id"])
        step_setup = None
        if "setup" in raw:
            step_setup = _config(raw["setup"], problems, i)
            size = step_setup.size if step_setup else 9
            problems.protocol = step_setup.protocol if step_setup else "raft"
        steps.append(_step(raw, i, size, step_setup, problems, task_ids, question_ids))
    for where, text in (("title", data["title"]), ("summary", data["summary"])):
        for p in markdown_problems(text):
            problems.add(p, None, where)
    if kind == "interview" and not any(q.predict for s in steps for q in s.questions):
        problems.add("an interview card needs at least one question with predict: true",
                     None, "steps")
    if setup is None or problems.items:
        return None
    section = data["section"]
    return Lesson(
        id=data["id"],
        kind=kind,
        title=data["title"],
        summary=data["summary"],
        minutes=float(data["minutes"]),
        sections=(section,) if isinstance(section, str) else tuple(section),
        setup=setup,
        steps=tuple(steps),
        file=file,
        raw=data,
    )


def _text_problems(text: str, i: int, where: str, problems: _Problems) -> None:
    for p in markdown_problems(text):
        problems.add(p, i, where)


def _step(raw: dict[str, Any], i: int, size: int, setup: ClusterConfig | None,
          problems: _Problems, task_ids: set[str], question_ids: set[str]) -> Step:
    _text_problems(raw["text"], i, "text", problems)
    actions = _actions(raw.get("actions", []), "actions", i, size, problems)
    tasks = []
    for t, task in enumerate(raw.get("tasks", [])):
        where = f"tasks[{t}]"
        if task["id"] in task_ids:
            problems.add(f"task id {task['id']!r} is used twice in this lesson", i, where + ".id")
        task_ids.add(task["id"])
        tasks.append(_task(task, where, i, size, problems))
    questions = []
    for q, question in enumerate(raw.get("questions", [])):
        where = f"questions[{q}]"
        if question["id"] in question_ids:
            problems.add(f"question id {question['id']!r} is used twice in this lesson", i,
                         where + ".id")
        question_ids.add(question["id"])
        questions.append(_question(question, where, i, size, problems))
    expect = []
    for e, spec in enumerate(raw.get("expect", [])):
        for p in condition_problems(spec, size):
            problems.add(p, i, f"expect[{e}]")
        expect.append(spec)
    return Step(raw["id"], raw["title"], raw["text"], setup, actions, tuple(tasks),
                tuple(questions), tuple(expect))


def _actions(raw: list[dict[str, Any]], where: str, i: int, size: int,
             problems: _Problems) -> tuple[Action, ...]:
    out = []
    for a, item in enumerate(raw):
        here = f"{where}[{a}]"
        ((kind, body),) = item.items()
        if kind == "command":
            for p in command_problems(body, size, problems.protocol):
                problems.add(p, i, here + ".command")
            out.append(Action("command", here, command=body))
        elif kind == "run":
            out.append(Action("run", here, ms=float(body["ms"])))
        else:
            spec = {k: v for k, v in body.items() if k != "max_ms"}
            condition: Any = spec.get("condition") if set(spec) == {"condition"} else spec
            if isinstance(condition, dict) and len(condition) != 1:
                problems.add("run_until names one condition (and optionally max_ms)", i,
                             here + ".run_until")
                continue
            for p in condition_problems(condition, size):
                problems.add(p, i, here + ".run_until")
            max_ms = float(body.get("max_ms", DEFAULT_MAX_MS))
            out.append(Action("run_until", here, condition=condition, max_ms=max_ms))
    return tuple(out)


def _dry(command: dict[str, Any]) -> dict[str, Any]:
    """The command with references replaced by stand-ins, so that it can be parsed."""
    dry = dict(command)
    for name in NODE_FIELDS:
        if isinstance(dry.get(name), str) and dry[name].startswith("$"):
            dry[name] = "n1"
    if isinstance(dry.get("groups"), list):
        dry["groups"] = [
            [("n1" if isinstance(n, str) and n.startswith("$") else n) for n in g]
            if isinstance(g, list) else g for g in dry["groups"]
        ]
    if isinstance(dry.get("link"), list):
        dry["link"] = [("n1" if isinstance(n, str) and n.startswith("$") else n)
                       for n in dry["link"]]
    if dry.get("type") in ("deliver", "drop") and isinstance(dry.get("id"), dict):
        dry["id"] = 1
    return dry


def command_problems(command: dict[str, Any], size: int, protocol: str = "raft") -> list[str]:
    """Why a lesson's command would not run on a cluster of ``size`` nodes (empty if fine)."""
    try:
        parsed = parse_command(_dry(command))
    except CommandError as exc:
        return [str(exc)]
    problems = _node_field_problems(command, size)
    if command["type"] in ("deliver", "drop") and isinstance(command.get("id"), dict):
        problems += [f"id: {p}" for p in message_problems(command["id"], size)]
    problems += _value_problems(parsed.to_json(), protocol)
    return problems


def _node_field_problems(command: dict[str, Any], size: int) -> list[str]:
    problems = []
    for name in NODE_FIELDS:
        value = command.get(name)
        if value is not None and (problem := node_problem(value, size)):
            problems.append(problem)
    for group in command.get("groups") or []:
        problems += [p for n in group if (p := node_problem(n, size))]
    for n in command.get("link") or []:
        if problem := node_problem(n, size):
            problems.append(problem)
    return problems


def _value_problems(command: dict[str, Any], protocol: str) -> list[str]:
    """What the dispatcher would refuse later, found now: operations, read modes, settings."""
    problems = []
    if command["type"] == "client":
        ops = [op.value for op in Op if op not in (Op.NOOP, Op.CONFIG)]
        if command["op"] not in ops:
            problems.append(f"unknown operation {command['op']!r}; use {', '.join(ops)}")
        if command["op"] in ("set", "cas") and command.get("value") is None:
            problems.append(f"{command['op']} needs a value")
    if command.get("read_mode") is not None and command["read_mode"] not in list(ReadMode):
        problems.append(f"unknown read mode {command['read_mode']!r}; use "
                        + ", ".join(m.value for m in ReadMode))
    if command["type"] == "settings":
        section = "paxos" if protocol == "paxos" else "settings"
        for name, value in command["changes"].items():
            try:
                config_schema.check_changes(section, {name: value})
            except CommandError as exc:
                problems.append(str(exc))
    return problems


def _task(raw: dict[str, Any], where: str, i: int, size: int, problems: _Problems) -> Task:
    _text_problems(raw["text"], i, where + ".text", problems)
    if "hint" in raw:
        _text_problems(raw["hint"], i, where + ".hint", problems)
    match = raw["match"]
    for p in matcher_problems(match, size):
        problems.add(p, i, where + ".match")
    solution = raw.get("solution")
    if solution is None:
        if command_problems(match, size, problems.protocol):
            problems.add("the matcher is not a complete command, so the task needs a "
                         "solution: the command the lesson performs for a learner who skips it",
                         i, where)
        solution = {k: v for k, v in match.items() if k not in ("isolates", "separates")}
    else:
        for p in command_problems(solution, size, problems.protocol):
            problems.add(p, i, where + ".solution")
        if solution.get("type") != match.get("type"):
            problems.add("the solution is not the kind of command the matcher looks for", i,
                         where + ".solution")
    then = _actions(raw.get("then", []), where + ".then", i, size, problems)
    return Task(raw["id"], raw["text"], match, solution, raw.get("hint"),
                raw.get("hint_after_ms"), raw.get("hint_after_s"), then)


def matcher_problems(match: dict[str, Any], size: int) -> list[str]:
    """Why a task matcher could never match (unknown command type or fields, bad nodes)."""
    kind = match["type"]
    cls = COMMANDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        return [f"unknown command type {kind!r}; known types: {', '.join(sorted(COMMANDS))}"]
    names = {f.name for f in fields(cls)}
    extras = MATCH_EXTRAS.get(kind, ())
    problems = []
    for key, value in match.items():
        if key == "type":
            continue
        if key not in names and key not in extras:
            known = ", ".join([*sorted(names), *extras])
            problems.append(f"{kind} commands have no field {key!r}; match on {known}")
        elif key in NODE_FIELDS or key == "isolates":
            if isinstance(value, dict):
                problems += _comparator_problems(key, value, size)
            elif problem := node_problem(value, size):
                problems.append(f"{key}: {problem}")
        elif key == "separates":
            if not isinstance(value, list) or len(value) != 2:
                problems.append("separates names two nodes")
            else:
                problems += [f"separates: {p}" for n in value if (p := node_problem(n, size))]
        elif key == "message":
            problems += [f"message: {p}" for p in message_problems(value, size)]
        elif isinstance(value, dict) and set(value) <= COMPARATORS and value:
            problems += _comparator_problems(key, value, size)
    return problems


def _comparator_problems(key: str, value: dict[str, Any], size: int) -> list[str]:
    unknown = set(value) - COMPARATORS
    if unknown:
        return [f"{key}: unknown comparison {', '.join(sorted(unknown))}; use "
                + ", ".join(sorted(COMPARATORS))]
    problems = []
    for op, bound in value.items():
        if op == "one_of":
            if not isinstance(bound, list) or not bound:
                problems.append(f"{key}.one_of must be a non-empty list")
            elif key in NODE_FIELDS:
                problems += [f"{key}: {p}" for n in bound if (p := node_problem(n, size))]
        elif isinstance(bound, bool) or not isinstance(bound, (int, float)):
            problems.append(f"{key}.{op} must be a number")
    return problems


def _question(raw: dict[str, Any], where: str, i: int, size: int,
              problems: _Problems) -> Question:
    for name in ("prompt", "explanation"):
        _text_problems(raw[name], i, f"{where}.{name}", problems)
    kind = raw.get("kind", "choice")
    choices = tuple(Choice(c["label"], c["value"]) for c in raw.get("choices", []))
    answer = raw["answer"]
    predict = raw.get("predict", False)
    if kind == "choice":
        if not choices:
            problems.add("a choice question needs choices", i, where + ".choices")
        keys = [_key(c.value) for c in choices]
        if len(set(keys)) != len(keys):
            problems.add("two choices carry the same value", i, where + ".choices")
        if choices and _key(answer) not in keys:
            problems.add(f"answer {answer!r} is not the value of any choice", i,
                         where + ".answer")
    else:
        if choices:
            problems.add("a number question has no choices", i, where + ".choices")
        if isinstance(answer, bool) or not isinstance(answer, (int, float)):
            problems.add(f"a number question's answer must be a number, got {answer!r}", i,
                         where + ".answer")
    if predict:
        if "probe" not in raw:
            problems.add("a prediction needs a probe: what to read from the cluster", i,
                         where + ".probe")
        else:
            for p in probe_problems(raw["probe"], size):
                problems.add(p, i, where + ".probe")
    else:
        for name in ("probe", "then"):
            if name in raw:
                problems.add(f"{name} is only for predictions (predict: true)", i,
                             f"{where}.{name}")
    then = _actions(raw.get("then", []), where + ".then", i, size, problems)
    return Question(
        id=raw["id"],
        kind=kind,
        prompt=raw["prompt"],
        answer=answer,
        explanation=raw["explanation"],
        choices=choices,
        tolerance=float(raw.get("tolerance", 0.0)),
        predict=predict,
        probe=raw.get("probe"),
        then=then,
        watch=tuple(raw.get("watch", [])),
    )


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
