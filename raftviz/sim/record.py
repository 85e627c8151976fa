"""The run record: every message and every mark of a whole run, compact, for the space-time view.

The space-time (Lamport) diagram and the export of a time range need the whole run, not one
instant: each message's send and its end (delivered, dropped and why, queued at a paused
server), with duplicates flagged, and marks on the servers' lines: role changes (elections,
new leaders, step-downs), crashes, restarts, pauses, resumes, partitions and heals, and commit
index advances.

Compact: a message is one row of typed columns (``array``), about 30 bytes, and a mark about 22,
so a 10-minute run at 100 writes/s fits in tens of megabytes (bench/bench_spacetime.py prints it).
Rows are indexed by envelope id (the network numbers envelopes 1, 2, 3, ...), and marks by their
position in the run.

History: the record is shared by a cluster and every checkpoint copy of it (a checkpoint costs
one small per-cluster part: each server's last recorded role and commit index, and how many marks
it has recorded). Replaying after a jump back writes the same rows again at the same positions, so
the record keeps showing the run up to its horizon; a fork (a new command after a jump back)
calls :meth:`Recorder.fork`, which cuts everything past the current position, so the record always
matches the current run. Recording draws no random numbers and changes no timing.

A record may start part of the way into a run: a cluster rebuilt from a stored checkpoint
(raftviz/service/store) has no record of the run before it, and replaying that part from the
seed would take a hundred times longer than the rebuild. Its record starts there
(``Recorder(first_envelope, since)``): rows count from that envelope, and every window says
``since`` so the page can show where the record begins.
"""

from __future__ import annotations

import bisect
import math
from array import array
from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any

from raftviz.core.messages import (
    AppendEntries,
    AppendEntriesReply,
    ClientReply,
    ClientRequest,
    Message,
    RequestVote,
    RequestVoteReply,
)

NAN = float("nan")
# At most this many messages are listed in one window; a wider window gets counts per bin.
MAX_WINDOW_MESSAGES = 15000
MAX_WINDOW_MARKS = 4000
DENSITY_BINS = 400


class Outcome(IntEnum):
    """How a message's arrow ends."""

    IN_FLIGHT = 0
    DELIVERED = 1
    LOST = 2  # random loss on the link
    PARTITIONED = 3  # blocked by a partition or a cut link when it arrived
    DOWN = 4  # the receiver had crashed
    DROPPED = 5  # dropped by the user
    QUEUED = 6  # arrived at a paused server, which handles it when it resumes


OUTCOME_NAMES = {o: o.name.lower().replace("_", " ") for o in Outcome}
_DROP_OUTCOMES = {
    "lost on the link": Outcome.LOST,
    "blocked by the partition": Outcome.PARTITIONED,
    "dropped by you": Outcome.DROPPED,
}


class MarkKind(IntEnum):
    """What a mark on a server's line (or across all lines, for the network) stands for."""

    FOLLOWER = 0  # became a follower (saw a higher term, or stepped down)
    CANDIDATE = 1  # started an election
    LEADER = 2  # won an election
    CRASH = 3
    RESTART = 4
    PAUSE = 5
    RESUME = 6
    PARTITION = 7
    HEAL = 8
    COMMIT = 9  # commit index advanced (value = the new commit index)
    CUT = 10  # a link was cut or restored (a change of the partition, drawn like one)
    PRE_CANDIDATE = 11  # started a pre-vote (Raft thesis 9.6)


MARK_NAMES = {m: m.name.lower() for m in MarkKind}
NETWORK = "network"  # the "node" of partition, heal and link marks: they span every line
_FLAG_DUPLICATE = 1


def _info(msg: Message) -> int:
    """One number that says the most about a message after its kind and term."""
    match msg:
        case AppendEntries():
            return len(msg.entries)
        case AppendEntriesReply():
            return msg.match_index if msg.success else -1
        case RequestVoteReply():
            return 1 if msg.vote_granted else 0
        case RequestVote():
            return msg.last_log_index
        case ClientRequest():
            return msg.request_id
        case ClientReply():
            return msg.request_id if msg.ok else -msg.request_id
    slot = getattr(msg, "slot", None)
    return slot if isinstance(slot, int) else 0


class _Store:
    """The shared columns. Deep copies share it: checkpoints never copy the rows."""

    def __init__(self, first_envelope: int = 1, since: float = 0.0) -> None:
        self.restart(first_envelope, since)

    def restart(self, first_envelope: int, since: float) -> None:
        """Empty columns: the record starts at envelope ``first_envelope``, time ``since``."""
        self.first = first_envelope  # the envelope id of row 0
        self.since = since  # simulated time the record starts at
        self.names: list[str] = []
        self.name_index: dict[str, int] = {}
        self.kinds: list[str] = []
        self.kind_index: dict[str, int] = {}
        # messages, row = envelope id - first
        self.sent = array("d")
        self.end = array("d")
        self.src = array("B")
        self.dst = array("B")
        self.kind = array("B")
        self.outcome = array("B")
        self.flags = array("B")
        self.term = array("i")
        self.info = array("i")
        self.ballot_node = array("B")  # Paxos: the ballot's proposer (1 + index into names)
        self.longest = 0.0  # an upper bound on end - sent, so a window can find arrows into it
        # marks, in the order they happened
        self.mark_time = array("d")
        self.mark_node = array("B")
        self.mark_kind = array("B")
        self.mark_term = array("i")
        self.mark_value = array("i")
        self.other_marks = array("i")  # rows of the marks that are not commits, in order

    def __deepcopy__(self, memo: dict[int, Any]) -> _Store:
        return self

    def name(self, name: str) -> int:
        i = self.name_index.get(name)
        if i is None:
            i = self.name_index[name] = len(self.names)
            self.names.append(name)
        return i

    def kind_of(self, kind: str) -> int:
        i = self.kind_index.get(kind)
        if i is None:
            i = self.kind_index[kind] = len(self.kinds)
            self.kinds.append(kind)
        return i


_MESSAGE_COLUMNS = (
    "sent", "end", "src", "dst", "kind", "outcome", "flags", "term", "info", "ballot_node"
)
_MARK_COLUMNS = ("mark_time", "mark_node", "mark_kind", "mark_term", "mark_value")


def _put(column: array[Any], row: int, value: Any) -> None:
    """Write a row: append at the end, overwrite when replaying (the same value again)."""
    if row < len(column):
        column[row] = value
    else:
        column.append(value)


def _no_record() -> None:
    return None


class Recorder:
    """Records one run into a shared :class:`_Store`; the per-cluster part is tiny."""

    def __init__(self, first_envelope: int = 1, since: float = 0.0) -> None:
        self.store = _Store(first_envelope, since)
        self.marks = 0  # marks recorded up to this cluster's position
        self.roles: dict[str, str] = {}  # each server's last recorded role
        self.commits: dict[str, int] = {}  # each server's last recorded commit index

    def __reduce__(self) -> tuple[Any, tuple[()]]:
        # A pickled cluster (a durable checkpoint, raftviz/service/store) leaves the record out:
        # it belongs to the live run and can be tens of megabytes. The unpickled cluster
        # records nothing (its record is None).
        return _no_record, ()

    def __deepcopy__(self, memo: dict[int, Any]) -> Recorder:
        clone = Recorder.__new__(Recorder)
        clone.store = self.store
        clone.marks = self.marks
        clone.roles = dict(self.roles)
        clone.commits = dict(self.commits)
        memo[id(self)] = clone
        return clone

    # ------------------------------------------------------------ recording

    def sent(self, env_id: int, msg: Message, now: float, duplicate: bool) -> None:
        """A message was put in flight (one row per envelope; a duplicate copy is flagged)."""
        s = self.store
        row = env_id - s.first
        if row < len(s.sent):
            return  # replaying after a jump back: the row, and how it ended, are already known
        if row > len(s.sent):
            raise ValueError(f"envelope {env_id} recorded out of order (have {len(s.sent)})")
        ballot = getattr(msg, "ballot", None)
        s.sent.append(now)
        s.end.append(NAN)
        s.src.append(s.name(msg.src))
        s.dst.append(s.name(msg.dst))
        s.kind.append(s.kind_of(msg.kind.value))
        s.outcome.append(Outcome.IN_FLIGHT)
        s.flags.append(_FLAG_DUPLICATE if duplicate else 0)
        s.term.append(msg.term)
        s.info.append(_info(msg))
        s.ballot_node.append(s.name(ballot.node) + 1 if ballot is not None else 0)

    def ended(self, env_id: int, now: float, outcome: Outcome) -> None:
        """A message arrived (delivered, queued) or was dropped."""
        s = self.store
        row = env_id - s.first
        if not 0 <= row < len(s.sent):
            return  # sent before the record starts
        s.end[row] = now
        s.outcome[row] = outcome
        s.longest = max(s.longest, now - s.sent[row])

    def dropped(self, env_id: int, now: float, why: str) -> None:
        outcome = _DROP_OUTCOMES.get(why, Outcome.DOWN if why.endswith("is down") else None)
        self.ended(env_id, now, outcome if outcome is not None else Outcome.LOST)

    def mark(self, now: float, node: str, kind: MarkKind, term: int = 0, value: int = 0) -> None:
        s, row = self.store, self.marks
        _put(s.mark_time, row, now)
        _put(s.mark_node, row, s.name(node))
        _put(s.mark_kind, row, kind)
        _put(s.mark_term, row, term)
        _put(s.mark_value, row, value)
        if kind is not MarkKind.COMMIT:
            i = bisect.bisect_left(s.other_marks, row)
            if i == len(s.other_marks):
                s.other_marks.append(row)
            elif s.other_marks[i] != row:  # a replay overwriting the same row finds it there
                s.other_marks.insert(i, row)
        self.marks += 1

    def observe(self, now: float, node: str, role: str | None, term: int, commit: int) -> None:
        """Mark what changed on a server since it was last observed: its role, its commit."""
        if role is not None and self.roles.get(node) != role:
            if node in self.roles or role != "follower":
                self.mark(now, node, MarkKind[role.upper().replace("-", "_")], term)
            self.roles[node] = role
        if role is not None and commit > self.commits.get(node, 0):
            self.mark(now, node, MarkKind.COMMIT, term, commit)
        if role is not None:
            self.commits[node] = commit

    def forget(self, node: str) -> None:
        """A crashed server has no role; it rejoins as a follower with commit index 0."""
        self.roles.pop(node, None)
        self.commits.pop(node, None)

    def fork(self, next_envelope: int, in_flight: Iterable[int], now: float) -> None:
        """Cut what lies past the current position: a new command makes it another run.

        A position the record no longer reaches (a lesson step restored from its own copy
        after an earlier fork cut the record short of it) starts the record afresh here, as
        a restored session does: what led to it is on a branch that was cut away.
        """
        s = self.store
        if next_envelope - s.first > len(s.sent) or self.marks > len(s.mark_time):
            s.restart(next_envelope, now)
            self.marks = 0
            self.roles.clear()
            self.commits.clear()
            return
        keep = max(0, next_envelope - s.first)
        for name in _MESSAGE_COLUMNS:
            del getattr(s, name)[keep:]
        for env_id in in_flight:
            if 0 <= env_id - s.first < keep:
                s.end[env_id - s.first] = NAN
                s.outcome[env_id - s.first] = Outcome.IN_FLIGHT
        for name in _MARK_COLUMNS:
            del getattr(s, name)[self.marks:]
        del s.other_marks[bisect.bisect_left(s.other_marks, self.marks):]

    # -------------------------------------------------------------- reading

    @property
    def message_count(self) -> int:
        return len(self.store.sent)

    @property
    def mark_count(self) -> int:
        return len(self.store.mark_time)

    def nbytes(self) -> int:
        """Bytes held by the columns (what grows with the run)."""
        s = self.store
        columns = (*_MESSAGE_COLUMNS, *_MARK_COLUMNS)
        return sum(getattr(s, n).itemsize * len(getattr(s, n)) for n in columns)

    def message(self, env_id: int) -> dict[str, Any] | None:
        """One message's row, by envelope id (None when there is none)."""
        s = self.store
        row = env_id - s.first
        if not 0 <= row < len(s.sent):
            return None
        return self._message_json(row)

    def _message_json(self, row: int) -> dict[str, Any]:
        s = self.store
        end = s.end[row]
        out: dict[str, Any] = {
            "id": row + s.first,
            "kind": s.kinds[s.kind[row]],
            "src": s.names[s.src[row]],
            "dst": s.names[s.dst[row]],
            "sent": s.sent[row],
            "end": None if math.isnan(end) else end,
            "outcome": OUTCOME_NAMES[Outcome(s.outcome[row])],
            "duplicate": bool(s.flags[row] & _FLAG_DUPLICATE),
            "term": s.term[row],
            "info": s.info[row],
        }
        if s.ballot_node[row]:
            out["ballot"] = f"{s.term[row]}.{s.names[s.ballot_node[row] - 1]}"
        return out

    def window(
        self,
        start: float,
        stop: float,
        kinds: frozenset[str] | None = None,
        nodes: frozenset[str] | None = None,
        limit: int = MAX_WINDOW_MESSAGES,
    ) -> dict[str, Any]:
        """Messages whose arrow crosses [start, stop] and marks inside it, as columns.

        More than ``limit`` messages come back as counts per time bin and sender instead
        (``density``), which is what a zoomed-out diagram can show anyway.
        """
        s = self.store
        lo = bisect.bisect_left(s.sent, start - s.longest)
        hi = bisect.bisect_right(s.sent, stop)
        kind_ids = None if kinds is None else {s.kind_index[k] for k in kinds if k in s.kind_index}
        node_ids = None if nodes is None else {s.name_index[n] for n in nodes if n in s.name_index}
        data: dict[str, Any] = {
            "start": start,
            "stop": stop,
            "names": list(s.names),
            "kinds": list(s.kinds),
            "since": s.since,
        }
        if hi - lo > 4 * limit:
            # Far too many to list: count sends per bin by bisection, without visiting rows
            # (so filters do not apply to the counts).
            data["density"] = self._density(start, stop)
            data["total"] = data["density"]["total"]
            data.update(self._marks(start, stop, node_ids))
            return data
        rows = []
        for row in range(lo, hi):
            end = s.end[row]
            if not math.isnan(end) and end < start:
                continue
            if kind_ids is not None and s.kind[row] not in kind_ids:
                continue
            if node_ids is not None and s.src[row] not in node_ids and s.dst[row] not in node_ids:
                continue
            rows.append(row)
        data["total"] = len(rows)
        if len(rows) <= limit:
            data["messages"] = [
                [
                    row + s.first,
                    s.kind[row],
                    s.src[row],
                    s.dst[row],
                    s.sent[row],
                    None if math.isnan(s.end[row]) else s.end[row],
                    s.outcome[row],
                    s.flags[row],
                    s.term[row],
                    s.info[row],
                    s.ballot_node[row],
                ]
                for row in rows
            ]
        else:
            data["density"] = self._density(start, stop)
        data.update(self._marks(start, stop, node_ids))
        return data

    def _density(self, start: float, stop: float) -> dict[str, Any]:
        """Messages sent per time bin, all kinds and servers (a zoomed-out view's texture)."""
        sent = self.store.sent
        width = max(stop - start, 1e-9) / DENSITY_BINS
        edges = [bisect.bisect_left(sent, start + i * width) for i in range(DENSITY_BINS)]
        edges.append(bisect.bisect_right(sent, stop))
        counts = [edges[i + 1] - edges[i] for i in range(DENSITY_BINS)]
        return {"bins": DENSITY_BINS, "counts": counts, "total": sum(counts)}

    def _marks(self, start: float, stop: float, node_ids: set[int] | None) -> dict[str, Any]:
        s = self.store
        lo = bisect.bisect_left(s.mark_time, start)
        hi = bisect.bisect_right(s.mark_time, stop)
        network = s.name_index.get(NETWORK)

        def wanted(row: int) -> bool:
            node = s.mark_node[row]
            return node_ids is None or node in node_ids or node == network

        thinned = 0
        if hi - lo <= MAX_WINDOW_MARKS:
            rows = [row for row in range(lo, hi) if wanted(row)]
        else:
            # Commits are by far the most frequent marks: past the limit keep every other mark
            # (found through their own index, without visiting the commits) and a sample of
            # the commits spread evenly over the window.
            others = s.other_marks[
                bisect.bisect_left(s.other_marks, lo) : bisect.bisect_left(s.other_marks, hi)
            ]
            stride = max(1, (hi - lo) * 2 // MAX_WINDOW_MARKS)
            sample = [r for r in range(lo, hi, stride) if s.mark_kind[r] == MarkKind.COMMIT]
            rows = sorted(r for r in {*others, *sample} if wanted(r))
            thinned = (hi - lo) - len(rows)
        return {
            "marks": [
                [
                    row,
                    s.mark_time[row],
                    s.mark_node[row],
                    s.mark_kind[row],
                    s.mark_term[row],
                    s.mark_value[row],
                ]
                for row in rows[:MAX_WINDOW_MARKS]
            ],
            "marks_thinned": thinned,
            "mark_kinds": [MARK_NAMES[m] for m in MarkKind],
            "outcomes": [OUTCOME_NAMES[o] for o in Outcome],
        }

    def counts(self) -> Mapping[str, int]:
        """How many messages of each kind, and marks of each kind, the whole record holds."""
        s = self.store
        out: dict[str, int] = {}
        for k in s.kind:
            name = s.kinds[k]
            out[name] = out.get(name, 0) + 1
        for m in s.mark_kind:
            name = f"mark:{MARK_NAMES[MarkKind(m)]}"
            out[name] = out.get(name, 0) + 1
        return out
