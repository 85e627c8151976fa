"""Bad lesson files are refused with errors that name the file, the step and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from raftviz.lessons.model import load_lesson_file, load_lessons
from tests.lessons.helpers import HEADER, build, errors_of, lesson_text, write

GOOD_STEP = """\
steps:
  - id: first
    title: First
    text: Some text.
"""


def test_a_minimal_lesson_loads() -> None:
    lesson = build(GOOD_STEP)
    assert (lesson.id, lesson.kind, len(lesson.steps)) == ("demo", "lesson", 1)
    assert lesson.sections == ("tests",)


def test_missing_top_level_fields_are_named() -> None:
    errors = errors_of("id: demo\nsetup: {}\n" + GOOD_STEP)
    assert errors == ["lessons/demo.yaml: missing field 'title', 'summary', 'minutes', 'section'"]


def test_wrong_types_name_the_step_and_field() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: first
            title: First
            text: 42
            actions:
              - run: {ms: soon}
        """))
    assert "lessons/demo.yaml: step 'first' text: must be a text, got 42" in errors
    assert "lessons/demo.yaml: step 'first' actions[0].run.ms: must be a number, got 'soon'" in (
        errors
    )


def test_unknown_fields_are_refused() -> None:
    errors = errors_of(lesson_text(GOOD_STEP) + "    colour: blue\n")
    assert len(errors) == 1
    assert errors[0].startswith("lessons/demo.yaml: step 'first': unknown field 'colour'")


def test_an_action_is_exactly_one_thing() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: first
            title: First
            text: Text.
            actions:
              - {run: {ms: 10}, command: {type: heal}}
        """))
    assert errors == [
        "lessons/demo.yaml: step 'first' actions[0]: an action is exactly one of command, run, "
        "run_until"
    ]


def test_unknown_command_type() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: cut-off
            title: Cut off
            text: Text.
            actions:
              - command: {type: explode, node: n1}
        """))
    assert len(errors) == 1
    assert errors[0].startswith(
        "lessons/demo.yaml: step 'cut-off' actions[0].command: unknown command type 'explode'"
    )


def test_unknown_node_names_the_cluster() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: cut-off
            title: Cut off
            text: Text.
            actions:
              - command: {type: heal}
              - command: {type: crash, node: n7}
        """))
    assert errors == [
        "lessons/demo.yaml: step 'cut-off' actions[1].command: unknown node 'n7'; "
        "this cluster has n1..n3"
    ]


def test_nodes_are_checked_against_the_size_of_a_step_setup() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: big
            title: Big
            text: Text.
            setup: {size: 7}
            actions: [{command: {type: crash, node: n7}}]
          - id: later
            title: Later
            text: Text.
            actions: [{command: {type: partition, groups: [[n1, n8], [n2]]}}]
        """))
    assert errors == [
        "lessons/demo.yaml: step 'later' actions[0].command: unknown node 'n8'; "
        "this cluster has n1..n7"
    ]


def test_bad_command_fields_and_values() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            actions:
              - command: {type: crash}
              - command: {type: client, op: fly, key: x}
              - command: {type: settings, changes: {election_timeout: 10}}
              - command: {type: crash, node: $boss}
        """))
    assert errors == [
        "lessons/demo.yaml: step 's' actions[0].command: crash: missing field 'node'",
        "lessons/demo.yaml: step 's' actions[1].command: unknown operation 'fly'; use set, get, "
        "delete, cas, acquire, release",
        "lessons/demo.yaml: step 's' actions[2].command: unknown setting 'election_timeout'; "
        "settings are check_quorum, commit_old_terms, election_timeout_max, "
        "election_timeout_min, fast_backup, heartbeat_interval, joint_consensus, "
        "lease_drift_bound, max_batch, no_majority, noop_on_election, pre_vote, "
        "snapshot_chunk_size, snapshot_threshold, unsafe_config_change, unsafe_lease",
        "lessons/demo.yaml: step 's' actions[3].command: unknown reference '$boss'; use $leader, "
        "$follower or $follower1..$follower8",
    ]


def test_bad_probe_and_condition() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            actions:
              - run_until: {condition: {leader_is: n9}, max_ms: 100}
            expect: [leader, {term_at_least: two}, magic]
            questions:
              - id: q
                prompt: Who?
                predict: true
                probe: vibes
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: 1
                explanation: Because.
        """))
    assert "lessons/demo.yaml: step 's' actions[0].run_until: leader_is: unknown node 'n9'; " \
           "this cluster has n1..n3" in errors
    assert "lessons/demo.yaml: step 's' expect[1]: term_at_least: must be a whole number >= 0, " \
           "got 'two'" in errors
    assert any(e.startswith("lessons/demo.yaml: step 's' expect[2]: unknown condition 'magic'")
               for e in errors)
    assert any(e.startswith("lessons/demo.yaml: step 's' questions[0].probe: unknown probe "
                            "'vibes'; known probes: ") for e in errors)


def test_question_choices_must_be_well_formed() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            questions:
              - id: q1
                prompt: Which?
                choices: [{label: A, value: 1}, {label: B, value: 1}]
                answer: 3
                explanation: Because.
              - id: q2
                kind: number
                prompt: How many?
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: many
                explanation: Because.
              - id: q3
                prompt: Predict?
                predict: true
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: 1
                explanation: Because.
              - id: q4
                prompt: Quiz?
                probe: leader
                choices: [{label: A}, {label: B, value: 2}]
                answer: 2
                explanation: Because.
        """))
    assert errors == [
        "lessons/demo.yaml: step 's' questions[3].choices[0]: missing field 'value'",
    ]
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            questions:
              - id: q1
                prompt: Which?
                choices: [{label: A, value: 1}, {label: B, value: 1}]
                answer: 3
                explanation: Because.
              - id: q2
                kind: number
                prompt: How many?
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: many
                explanation: Because.
              - id: q3
                prompt: Predict?
                predict: true
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: 1
                explanation: Because.
              - id: q4
                prompt: Quiz?
                probe: leader
                choices: [{label: A, value: 1}, {label: B, value: 2}]
                answer: 2
                explanation: Because.
        """))
    assert errors == [
        "lessons/demo.yaml: step 's' questions[0].choices: two choices carry the same value",
        "lessons/demo.yaml: step 's' questions[0].answer: answer 3 is not the value of any choice",
        "lessons/demo.yaml: step 's' questions[1].choices: a number question has no choices",
        "lessons/demo.yaml: step 's' questions[1].answer: a number question's answer must be a "
        "number, got 'many'",
        "lessons/demo.yaml: step 's' questions[2].probe: a prediction needs a probe: what to "
        "read from the cluster",
        "lessons/demo.yaml: step 's' questions[3].probe: probe is only for predictions "
        "(predict: true)",
    ]


def test_duplicate_ids_and_task_matchers() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            tasks:
              - {id: t, text: Crash it., match: {type: crash, node: $leader}}
              - {id: t, text: Again., match: {type: crash, colour: red}}
              - {id: u, text: Deliver., match: {type: deliver, message: {kind: Gossip}}}
          - id: s
            title: S again
            text: Text.
        """))
    assert errors == [
        "lessons/demo.yaml: step 's' tasks[1].id: task id 't' is used twice in this lesson",
        "lessons/demo.yaml: step 's' tasks[1].match: crash commands have no field 'colour'; "
        "match on node",
        "lessons/demo.yaml: step 's' tasks[1]: the matcher is not a complete command, so the "
        "task needs a solution: the command the lesson performs for a learner who skips it",
        "lessons/demo.yaml: step 's' tasks[2].match: message: kind: must be one of RequestVote, "
        "RequestVoteReply, AppendEntries, AppendEntriesReply, InstallSnapshot, "
        "InstallSnapshotReply, ClientRequest, ClientReply, got 'Gossip'",
        "lessons/demo.yaml: step 's' tasks[2]: the matcher is not a complete command, so the "
        "task needs a solution: the command the lesson performs for a learner who skips it",
        "lessons/demo.yaml: step 's' id: step id 's' is used twice",
    ]


def test_bad_setup_is_reported_from_the_engine() -> None:
    errors = errors_of(lesson_text(GOOD_STEP, setup="setup: {size: 12}"))
    assert errors == [
        "lessons/demo.yaml: setup: config.size must be a whole number within 1..9 nodes, got 12"
    ]
    errors = errors_of(lesson_text(GOOD_STEP, setup="setup: {settings: {warp: true}}"))
    assert errors == ["lessons/demo.yaml: setup: config.settings: unknown field 'warp'"]


def test_raw_html_in_text_is_an_authoring_error() -> None:
    errors = errors_of(lesson_text("""\
        steps:
          - id: s
            title: S
            text: Click <b>here</b>.
        """))
    assert errors == [
        "lessons/demo.yaml: step 's' text: raw HTML is shown as text, not rendered; use **bold**, "
        "*italic*, `code` or lists"
    ]


def test_interview_cards_need_a_prediction() -> None:
    errors = errors_of("kind: interview\n" + lesson_text(GOOD_STEP))
    assert errors == [
        "lessons/demo.yaml: steps: an interview card needs at least one question with predict: "
        "true"
    ]


# ------------------------------------------------------------------------- YAML itself


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id: [unclosed\n", "malformed YAML: "),
        ("- just\n- a list\n", "a lesson file is a mapping of fields, got ['just', 'a list']"),
        ("", "a lesson file is a mapping of fields, got None"),
        ("id: !!python/object/apply:os.system ['echo pwned']\n",
         "malformed YAML: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object/apply:os.system' (line 1, column 5)"),
        ("id: !!python/object:subprocess.Popen {args: [ls]}\n",
         "malformed YAML: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/object:subprocess.Popen' (line 1, column 5)"),
        ("a: &x [1, 2]\nb: *x\n",
         "malformed YAML: aliases (*name) are not allowed in lesson files (line 2, column 4)"),
        ("id: a\nid: b\n", "malformed YAML: duplicate key 'id' (line 2, column 1)"),
        ("? [1, 2]\n: x\n", "malformed YAML: "),
    ],
)
def test_malformed_and_hostile_yaml(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert len(errors) == 1
    assert errors[0].startswith("lessons/demo.yaml: " + expected), errors[0]


def test_yaml_reads_on_and_yes_as_text_not_booleans() -> None:
    lesson = build("""\
        steps:
          - id: s
            title: S
            text: Text.
            actions:
              - command: {type: manual, on: true}
              - command: {type: client, op: set, key: yes, value: no}
        """)
    assert lesson.steps[0].actions[0].command == {"type": "manual", "on": True}
    assert lesson.steps[0].actions[1].command == {
        "type": "client", "op": "set", "key": "yes", "value": "no"
    }


def test_dates_stay_text_so_the_schema_sees_a_string() -> None:
    lesson = build(GOOD_STEP.replace("Some text.", "2024-01-01"))
    assert lesson.steps[0].text == "2024-01-01"


# ------------------------------------------------------------------------- folders


def test_a_broken_file_is_reported_and_the_others_still_load(tmp_path: Path) -> None:
    folder = tmp_path / "lessons"
    write(folder, "01-good.yaml", lesson_text(GOOD_STEP))
    write(folder, "02-broken.yaml", HEADER.replace("demo", "broken") + "setup: {}\nsteps: 7\n")
    write(folder, "interview/01-card.yaml", "kind: interview\n" + lesson_text("""\
        steps:
          - id: s
            title: S
            text: Text.
            questions:
              - id: q
                prompt: Leader?
                predict: true
                probe: has_leader
                choices: [{label: yes, value: true}, {label: no, value: false}]
                answer: true
                explanation: Because.
        """).replace("id: demo", "id: card"))
    write(folder, "interview/02-same-id.yaml", lesson_text(GOOD_STEP).replace("id: demo",
                                                                              "id: card"))
    lessons, errors = load_lessons(folder)
    assert [lesson.id for lesson in lessons] == ["demo", "card"]
    assert [lesson.kind for lesson in lessons] == ["lesson", "interview"]
    assert [str(e) for e in errors] == [
        "lessons/02-broken.yaml: steps: must be a list, got 7",
        "lessons/interview/02-same-id.yaml: id: lesson id 'card' is already used by "
        "lessons/interview/01-card.yaml",
    ]


def test_unreadable_and_oversized_files(tmp_path: Path) -> None:
    lesson, errors = load_lesson_file(tmp_path / "missing.yaml")
    assert lesson is None and "cannot read the file" in str(errors[0])
    big = write(tmp_path, "big.yaml", "# " + "x" * 600_000)
    assert "larger than 512 KiB" in str(load_lesson_file(big)[1][0])
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert "not UTF-8" in str(load_lesson_file(binary)[1][0])
