"""Classrooms: one presenter's cluster followed live by students on their own devices.

A classroom belongs to one presenter session. Students join with a short code; their sockets
become *followers* of that session: they receive its frames (one shared delta stream, built
once per tick and broadcast to the classroom's room) and may not change it. The presenter
proves who they are with a secret handed out once at creation, can hand control to one student
and take it back, and can run prediction polls. Plain Python (no Flask): the web layer
(``raftviz/web/classroom_events.py``) validates payloads and calls these methods.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from raftviz.service.frame_state import FrameState
from raftviz.sim.engine.cluster import CommandError

# No 0/O, 1/I/L, 5/S or 2/Z: a code read off a projector is typed right the first time.
CODE_ALPHABET = "ABCDEFGHJKMNPQRTUVWXY346789"
CODE_LENGTH = 6
# Students one worker carries in a classroom: every frame is one socket write per student.
# With several workers a classroom holds this many per live worker (raftviz/web/cluster_events.py).
MAX_STUDENTS = 250
MAX_CLASSROOMS = 50
MAX_NAME = 40
MAX_QUESTION = 300
MAX_CHOICE = 120
MIN_CHOICES = 2
MAX_CHOICES = 6
RECORD_VERSION = 1  # of Classroom.record, as stored beside the sessions


class ClassroomError(CommandError):
    """A refused classroom request; the message says why and what to do (the web layer
    answers it as an error acknowledgement, like a refused command)."""


def normalize_code(code: str) -> str:
    """Codes are typed by people: ignore case, spaces and dashes."""
    return "".join(ch for ch in code.upper() if ch not in " -")


@dataclass(slots=True)
class Student:
    """One follower socket: a short public id the presenter can pick, and a name to show."""

    sid: str
    id: str
    name: str


@dataclass(slots=True)
class Poll:
    """A prediction question; one answer per student, changeable until the poll closes."""

    question: str
    choices: list[str]
    answers: dict[str, int] = field(default_factory=dict)  # student sid -> choice index
    open: bool = True
    correct: int | None = None  # set when the presenter reveals

    def tally(self) -> list[int]:
        counts = [0] * len(self.choices)
        for choice in self.answers.values():
            counts[choice] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """Everything needed to carry the poll over to another worker."""
        return {"question": self.question, "choices": list(self.choices),
                "answers": dict(self.answers), "open": self.open, "correct": self.correct}

    @classmethod
    def from_json(cls, data: Any) -> Poll:
        """A poll from :meth:`to_json`'s output; ClassroomError if it is not one (stored
        content is untrusted)."""
        if not isinstance(data, dict):
            raise ClassroomError("the stored poll is not an object")
        question, choices = data.get("question"), data.get("choices")
        answers, is_open, correct = data.get("answers"), data.get("open"), data.get("correct")
        if not isinstance(question, str) or not 0 < len(question) <= MAX_QUESTION:
            raise ClassroomError("the stored poll's question is not a string of 1..300 characters")
        if (not isinstance(choices, list) or not MIN_CHOICES <= len(choices) <= MAX_CHOICES
                or not all(isinstance(c, str) and 0 < len(c) <= MAX_CHOICE for c in choices)):
            raise ClassroomError("the stored poll's choices are not 2..6 short strings")
        n = len(choices)

        def index(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < n

        if not isinstance(answers, dict) or not all(
                isinstance(k, str) and index(v) for k, v in answers.items()):
            raise ClassroomError("the stored poll's answers are not choice indexes by member")
        if not isinstance(is_open, bool) or not (correct is None or index(correct)):
            raise ClassroomError("the stored poll's open or correct field is malformed")
        return cls(question, list(choices), dict(answers), is_open, correct)

    def public(self, presenter: bool, own: int | None) -> dict[str, Any]:
        """The poll as a member sees it: the tally for the presenter, or once revealed."""
        out: dict[str, Any] = {
            "question": self.question,
            "choices": list(self.choices),
            "open": self.open,
            "answers": len(self.answers),
            "correct": self.correct,
        }
        if presenter or self.correct is not None:
            out["tally"] = self.tally()
        if not presenter:
            out["mine"] = own
        return out


class Classroom:
    """The presenter's session token, its students, who controls it, and the current poll."""

    def __init__(self, code: str, secret: str, token: str, presenter_sid: str | None) -> None:
        self.code = code
        self.secret = secret
        self.token = token  # the presenter session's token
        # None: brought back by a student before its presenter (raftviz/service/store/rooms.py)
        self.presenter_sids: set[str] = set() if presenter_sid is None else {presenter_sid}
        self.students: dict[str, Student] = {}  # sid -> student
        self.controller: str | None = None  # the sid of the student holding control
        self.poll: Poll | None = None
        self.frames = FrameState()  # the one delta stream every student shares
        self.sent_key: Any = None  # what the shared stream last showed (see playback.py)
        self.room = f"class:{code}"
        self.capacity = MAX_STUDENTS  # raised by the number of workers in a deployment
        self._joined = 0

    def record(self) -> dict[str, Any]:
        """What a restarted server needs to carry this classroom on (besides its session)."""
        return {"version": RECORD_VERSION, "secret": self.secret,
                "poll": None if self.poll is None else self.poll.to_json()}

    @classmethod
    def from_record(cls, code: str, token: str, data: Any, presenter_sid: str | None,
                    keep_answers: bool = False) -> Classroom:
        """The classroom of a stored record; ClassroomError when the record is not one.

        After a restart every socket is new, so the poll comes back without its answers
        (students answer again); its question, choices and whether it was open stay. A worker
        taking a classroom over keeps them (``keep_answers``): students on the other workers
        keep their sockets.
        """
        if not isinstance(data, dict) or data.get("version") != RECORD_VERSION:
            raise ClassroomError(f"classroom {code}: the stored record is not of version "
                                 f"{RECORD_VERSION}")
        secret = data.get("secret")
        if not isinstance(secret, str) or not secret:
            raise ClassroomError(f"classroom {code}: the stored record has no secret")
        room = cls(code, secret, token, presenter_sid)
        if data.get("poll") is not None:
            room.poll = Poll.from_json(data["poll"])
            if not keep_answers:
                room.poll.answers.clear()
        return room

    def check_secret(self, secret: Any) -> None:
        if not isinstance(secret, str) or not hmac.compare_digest(secret, self.secret):
            raise ClassroomError("wrong presenter secret; only the presenter can do this")

    # -------------------------------------------------------------- members

    def add_student(self, sid: str, name: str) -> Student:
        if sid in self.students:
            return self.students[sid]
        if len(self.students) >= self.capacity:
            raise ClassroomError(f"classroom {self.code} is full ({self.capacity} students)")
        self._joined += 1
        student = Student(sid, f"s{self._joined}", name or f"Student {self._joined}")
        self.students[sid] = student
        return student

    def remove(self, sid: str) -> None:
        """A socket left; a student who held control gives it back. Their answer goes too: a
        page that reconnects joins again as a new student and may answer again."""
        self.presenter_sids.discard(sid)
        if self.poll is not None:
            self.poll.answers.pop(sid, None)
        if self.students.pop(sid, None) is not None and self.controller == sid:
            self.controller = None

    def can_control(self, sid: str) -> bool:
        return sid not in self.students or self.controller == sid

    def hand(self, student_id: str | None) -> None:
        """Give control to the student with public id ``student_id``; None takes it back."""
        if student_id is None:
            self.controller = None
            return
        for student in self.students.values():
            if student.id == student_id:
                self.controller = student.sid
                return
        raise ClassroomError(f"no student {student_id!r} in classroom {self.code}")

    # ----------------------------------------------------------------- polls

    def open_poll(self, question: str, choices: list[str]) -> None:
        question = question.strip()
        if not question or len(question) > MAX_QUESTION:
            raise ClassroomError(f"the question must be 1..{MAX_QUESTION} characters")
        if not MIN_CHOICES <= len(choices) <= MAX_CHOICES:
            raise ClassroomError(
                f"a poll has {MIN_CHOICES}..{MAX_CHOICES} choices, not {len(choices)}"
            )
        clean = [c.strip() for c in choices]
        if any(not c or len(c) > MAX_CHOICE for c in clean):
            raise ClassroomError(f"each choice must be 1..{MAX_CHOICE} characters")
        self.poll = Poll(question, clean)

    def answer(self, sid: str, choice: int) -> None:
        poll = self.poll
        if sid not in self.students:
            raise ClassroomError("only students answer polls")
        if poll is None or not poll.open:
            raise ClassroomError("there is no open poll to answer")
        if not 0 <= choice < len(poll.choices):
            raise ClassroomError(f"choice must be within 0..{len(poll.choices) - 1}, got {choice}")
        poll.answers[sid] = choice

    def close_poll(self, correct: int | None) -> None:
        """Stop taking answers; with ``correct`` also reveal the right choice."""
        poll = self.poll
        if poll is None:
            raise ClassroomError("there is no poll to close")
        if correct is not None and not 0 <= correct < len(poll.choices):
            raise ClassroomError(
                f"correct must be within 0..{len(poll.choices) - 1}, got {correct}"
            )
        poll.open = False
        if correct is not None:
            poll.correct = correct

    # ----------------------------------------------------------------- views

    def state_for(self, sid: str) -> dict[str, Any]:
        """The ``class`` message for one member."""
        presenter = sid not in self.students
        controller = self.students.get(self.controller) if self.controller else None
        out: dict[str, Any] = {
            "code": self.code,
            "role": "presenter" if presenter else "student",
            "students": len(self.students),
            "controller": None if controller is None else controller.id,
            "controller_name": None if controller is None else controller.name,
            "you_control": presenter or self.controller == sid,
            "poll": None,
        }
        if self.poll is not None:
            own = None if presenter else self.poll.answers.get(sid)
            out["poll"] = self.poll.public(presenter, own)
        if presenter:
            out["capacity"] = self.capacity
            out["roster"] = [{"id": s.id, "name": s.name} for s in self.students.values()]
        else:
            me = self.students[sid]
            out["you"] = {"id": me.id, "name": me.name}
        return out

    def shared_student_state(self) -> dict[str, Any]:
        """The ``class`` message broadcast to every student at once (no personal fields)."""
        controller = self.students.get(self.controller) if self.controller else None
        return {
            "code": self.code,
            "role": "student",
            "students": len(self.students),
            "controller": None if controller is None else controller.id,
            "controller_name": None if controller is None else controller.name,
            "poll": None if self.poll is None else self.poll.public(False, None),
            "shared": True,
        }


class Classrooms:
    """Classrooms by code and by presenter session token."""

    def __init__(self, max_classrooms: int = MAX_CLASSROOMS) -> None:
        self.max_classrooms = max_classrooms
        self._by_code: dict[str, Classroom] = {}
        self._by_token: dict[str, Classroom] = {}

    def __len__(self) -> int:
        return len(self._by_code)

    def create(self, token: str, presenter_sid: str) -> Classroom:
        """A new classroom for session ``token`` (the existing one if it has one)."""
        existing = self._by_token.get(token)
        if existing is not None:
            raise ClassroomError(
                f"this session already runs classroom {existing.code}; "
                "use its secret (kept in this tab) or close it first"
            )
        if len(self._by_code) >= self.max_classrooms:
            raise ClassroomError(f"this server runs at most {self.max_classrooms} classrooms")
        code = self._new_code()
        room = Classroom(code, secrets.token_urlsafe(18), token, presenter_sid)
        self._by_code[code] = room
        self._by_token[token] = room
        return room

    def adopt(self, room: Classroom) -> None:
        """Hold a classroom this server did not create (restored, or taken over)."""
        self._by_code[room.code] = room
        self._by_token[room.token] = room

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self._by_code:
                return code

    def codes(self) -> list[str]:
        return list(self._by_code)

    def get(self, code: str) -> Classroom | None:
        return self._by_code.get(normalize_code(code))

    def of_session(self, token: str) -> Classroom | None:
        return self._by_token.get(token)

    def close(self, room: Classroom) -> None:
        self._by_code.pop(room.code, None)
        self._by_token.pop(room.token, None)
