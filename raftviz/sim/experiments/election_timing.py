"""Experiments that repeat measurements from the Raft paper on the simulated cluster.

``election-timing`` repeats Figure 16 of the Raft paper (section 9.3, "Performance"): how long
a five-server cluster is without a leader after the leader crashes, for several ranges of the
randomized election timeout.

The paper's setup, and how each part is made true here:

* Five servers whose logs have different lengths, so not every server can win. Every server
  starts in term 1 holding the same two entries; n4 also holds a third and n5 a fourth (entries
  that a term-1 leader sent to them alone). n1 is made to time out first, wins term 2 with the
  votes of n2 and n3, and leads. Its heartbeats carry no entries, and an AppendEntries with no
  entries never truncates a log (Raft Fig. 2, AppendEntries receiver 3), so the extra entries
  stay: once n1 is gone, only n4 and n5 have logs that a majority of the four survivors accepts.
  For that reason the no-op a new leader usually appends (``noop_on_election``) is off.
* A synchronized heartbeat: every follower resets its election timer when the same heartbeat
  round arrives (its arrival times differ only by network latency).
* The heartbeat interval is half the minimum election timeout, and the leader crashes at a
  uniformly random moment within the interval after it sent that heartbeat round.
* Stable storage (``--disk``): a server writes its term, vote and new entries to disk before it
  sends anything that depends on them (Raft Fig. 2; see ``sim/engine/storage.py``). A candidate
  fsyncs its new term and its vote for itself before its RequestVotes leave, and a voter fsyncs
  the vote before it replies, so an election round costs two fsyncs plus two one-way trips.
* A LAN (``--latency``): messages take 0.1 to 0.2 ms one way, so the broadcast time of an RPC
  that needs a disk write is about 3.3 ms (fsync plus a round trip) and that of a heartbeat,
  which needs none, about 0.3 ms.

The paper does not give its disk's fsync time; section 5.6 says the broadcast time "may range
from 0.5ms to 20ms, depending on storage technology". The ``paper`` preset uses 3 ms, a
server SSD's fsync. How the results move with it (bench/README.md has the table): with a
faster disk, split votes in 150-155 ms resolve sooner than the paper measured; with a slower
one, they last longer, because a candidate's RequestVote reaches the others only after its
fsync, and every follower whose timer fires in that window becomes a rival candidate.

The ``interactive`` preset is what the lab's page starts with (10-20 ms one way, a 2 ms fsync):
slow enough to watch, and far from a LAN, which is why its elections take much longer.

The downtime of a trial runs from the crash until a server wins an election: the moment it
has the votes of a majority and the cluster narrates "... won the election", which is when
``Cluster.leader`` names it (n1 being down, any leader is a new one). A trial still without a
leader after ``NO_LEADER_LIMIT_MS`` of simulated time is reported as such.

With the paper's setup, 150-150 ms never elects a leader: the followers' timers expire at most
0.1 ms apart (the spread of the heartbeat's arrival), a RequestVote arrives at least 3.1 ms
after its candidate's timer fired, so every server has become a candidate and voted for itself
before any request reaches it, and with no randomness the same happens in every later term.
The paper reports the same for no randomness: "leader election consistently took longer than
10 seconds".

One rule of Figure 2 matters a great deal here: a server's election timer is reset only when it
hears from the current leader, grants a vote, or starts an election. A candidate that sees a
newer term in a rival's RequestVote becomes a follower but keeps its timer. (Resetting it there,
as the core once did, re-synchronizes every server whenever an ineligible candidate (n2 or n3)
asks for votes, and 150-155 ms then needs about half as long again as the paper measured.)

Every trial has its own seed, derived from the experiment's seed, the range and the trial's
number, so results do not depend on how the trials are spread over worker processes.
"""

from __future__ import annotations

import csv
import hashlib
import math
import multiprocessing
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from raftviz.core.messages import Command, LogEntry, Op
from raftviz.core.raft import RaftNode, RaftSettings
from raftviz.sim.engine.cluster import Cluster, ClusterConfig, NodeInit
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.engine.storage import DEFAULT_FSYNC_MS

PAPER_LATENCY = (0.1, 0.2)
PAPER_FSYNC_MS = 3.0

CSV_HEADER = ("range_ms", "trial", "downtime_ms", "setup", "latency_ms", "fsync_ms")
NO_LEADER_LIMIT_MS = 10_000.0
# Log lengths at the start (all entries of term 1); see the module docstring.
LOG_LENGTHS = {"n1": 2, "n2": 2, "n3": 2, "n4": 3, "n5": 4}
FIRST_LEADER = "n1"
# While n1 gets elected nobody else may time out; the trial's own timeouts apply from then on.
SETUP_TIMEOUT_MS = 10_000.0
MAX_TRIALS = 100_000
CHUNK = 25  # trials per task handed to a worker process


@dataclass(frozen=True, slots=True)
class TimeoutRange:
    """An election timeout range in milliseconds, written ``150-300``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not 0 < self.low <= self.high <= 60_000:
            raise ValueError(
                f"election timeout range {self.label} must satisfy 0 < low <= high <= 60000 ms"
            )

    @property
    def label(self) -> str:
        return f"{self.low:g}-{self.high:g}"

    @property
    def heartbeat_interval(self) -> float:
        """Half the minimum election timeout, as in the paper's experiment."""
        return self.low / 2

    @classmethod
    def parse(cls, text: str) -> TimeoutRange:
        """``"150-300"`` (or ``"150"`` for a range without randomness)."""
        parts = text.strip().split("-")
        try:
            if len(parts) == 1:
                low = high = float(parts[0])
            elif len(parts) == 2:
                low, high = float(parts[0]), float(parts[1])
            else:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"bad election timeout range {text.strip()!r}; write it as MIN-MAX in "
                f"milliseconds, e.g. 150-300"
            ) from None
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(f"bad election timeout range {text.strip()!r}: not a number")
        return cls(low, high)


def parse_ranges(text: str) -> tuple[TimeoutRange, ...]:
    """A comma-separated list of ranges, e.g. ``"150-150,150-300,12-24"``."""
    ranges = tuple(TimeoutRange.parse(part) for part in text.split(",") if part.strip())
    if not ranges:
        raise ValueError("give at least one election timeout range, e.g. 150-300")
    labels = [r.label for r in ranges]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"election timeout range {duplicates[0]} is given twice")
    return ranges


# The paper's Figure 16: the 150-x ranges on top, the ranges with a lower minimum below.
TOP_RANGES = parse_ranges("150-150,150-151,150-155,150-175,150-200,150-300")
BOTTOM_RANGES = parse_ranges("12-24,25-50,50-100,100-200")
DEFAULT_RANGES = TOP_RANGES + BOTTOM_RANGES


@dataclass(frozen=True, slots=True)
class Setup:
    """The network and disk a trial runs on: one-way latency range and fsync time in ms."""

    name: str
    latency_min: float
    latency_max: float
    fsync_ms: float

    def __post_init__(self) -> None:
        if not 0 <= self.latency_min <= self.latency_max <= 1000:
            raise ValueError(
                f"latency {self.latency_min:g}-{self.latency_max:g} ms must satisfy "
                f"0 <= min <= max <= 1000"
            )
        if not 0 <= self.fsync_ms <= 1000:
            raise ValueError(f"disk fsync time {self.fsync_ms:g} ms must be within 0..1000")

    @property
    def latency(self) -> str:
        return f"{self.latency_min:g}-{self.latency_max:g}"

    @property
    def network(self) -> LinkParams:
        return LinkParams(latency_min=self.latency_min, latency_max=self.latency_max)

    def describe(self) -> str:
        return (f"{self.name} setup: one-way latency {self.latency} ms, "
                f"fsync {self.fsync_ms:g} ms before every reply")

    def with_changes(self, latency: tuple[float, float] | None, fsync_ms: float | None) -> Setup:
        """This setup with a different latency and/or disk; renamed "custom" when changed."""
        lat = latency if latency is not None else (self.latency_min, self.latency_max)
        disk = fsync_ms if fsync_ms is not None else self.fsync_ms
        if (lat, disk) == ((self.latency_min, self.latency_max), self.fsync_ms):
            return self
        return Setup(f"{self.name}+custom", lat[0], lat[1], disk)


def parse_latency(text: str) -> tuple[float, float]:
    """``"0.1-0.2"`` (or ``"5"`` for a fixed latency), one way, in ms."""
    parts = text.strip().split("-")
    try:
        if len(parts) not in (1, 2):
            raise ValueError
        low, high = float(parts[0]), float(parts[-1])
    except ValueError:
        raise ValueError(
            f"bad latency {text.strip()!r}; write it as MIN-MAX in milliseconds, e.g. 0.1-0.2"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= 1000):
        raise ValueError(f"latency {text.strip()!r} must satisfy 0 <= MIN <= MAX <= 1000 ms")
    return low, high


# See the module docstring: the paper's LAN, where the disk write before each reply dominates
# the broadcast time, and the lab's own defaults, slow enough to watch.
PRESETS = {
    "paper": Setup("paper", PAPER_LATENCY[0], PAPER_LATENCY[1], PAPER_FSYNC_MS),
    "interactive": Setup(
        "interactive", LinkParams().latency_min, LinkParams().latency_max, DEFAULT_FSYNC_MS
    ),
}
PAPER = PRESETS["paper"]


def trial_seed(seed: int, timeouts: TimeoutRange, trial: int) -> int:
    """The seed of one trial; stable across processes and Python versions."""
    text = f"election-timing:{seed}:{timeouts.label}:{trial}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") >> 1


def _initial_state() -> tuple[tuple[str, NodeInit], ...]:
    return tuple(
        (node, NodeInit(term=1, log=tuple(
            LogEntry(1, Command(Op.SET, "x", str(i))) for i in range(1, length + 1)
        )))
        for node, length in LOG_LENGTHS.items()
    )


_INITIAL = _initial_state()


def run_trial(timeouts: TimeoutRange, seed: int, setup: Setup = PAPER) -> float | None:
    """One trial: the downtime in ms after the leader crashed, or None if no leader came."""
    hb = timeouts.heartbeat_interval
    settings = RaftSettings(
        election_timeout_min=SETUP_TIMEOUT_MS,
        election_timeout_max=SETUP_TIMEOUT_MS,
        heartbeat_interval=hb,
        noop_on_election=False,
    )
    cluster = Cluster(ClusterConfig(5, seed, settings=settings, network=setup.network,
                                    initial=_INITIAL, fsync_ms=setup.fsync_ms))
    cluster.timeout_now(FIRST_LEADER)
    while cluster.leader != FIRST_LEADER:
        if not cluster.step() or cluster.now > SETUP_TIMEOUT_MS / 2:
            raise RuntimeError(f"trial {seed}: {FIRST_LEADER} was not elected during setup")
    cluster.set_settings(
        {"election_timeout_min": timeouts.low, "election_timeout_max": timeouts.high}
    )
    # The leader's next heartbeat round is the synchronized one: each follower draws a new
    # timeout from the trial's range when it arrives.
    host = cluster.hosts[FIRST_LEADER]
    leader = host.node
    assert isinstance(leader, RaftNode)
    heartbeat_at = host.to_real(leader.heartbeat_deadline)
    cluster.run_until(heartbeat_at)
    if cluster.leader != FIRST_LEADER or leader.round_sent.get(leader.seq) != heartbeat_at:
        raise RuntimeError(f"trial {seed}: the synchronized heartbeat was not sent")
    crash_at = heartbeat_at + random.Random(f"{seed}:crash").uniform(0, hb)
    cluster.run_until(crash_at)
    cluster.crash(FIRST_LEADER)
    limit = crash_at + NO_LEADER_LIMIT_MS
    while cluster.leader is None:
        next_at = cluster.next_event_time()
        if next_at is None or next_at > limit:
            return None
        cluster.step()
    return cluster.now - crash_at


Task = tuple[TimeoutRange, int, int, int, Setup]


def _run_chunk(task: Task) -> tuple[str, int, list[float | None]]:
    """Trials ``first..first+count-1`` of one range (runs in a worker process)."""
    timeouts, seed, first, count, setup = task
    downtimes = [
        run_trial(timeouts, trial_seed(seed, timeouts, trial), setup)
        for trial in range(first, first + count)
    ]
    return timeouts.label, first, downtimes


@dataclass(frozen=True, slots=True)
class RangeSummary:
    """Downtime statistics of one range; percentiles are None when they fall on a trial
    that had no leader within the limit."""

    label: str
    trials: int
    no_leader: int
    min: float | None
    mean: float | None  # None when some trial had no leader
    median: float | None
    p90: float | None
    p99: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class ElectionTimingResult:
    """Per range, each trial's downtime in ms (None: no leader within the limit)."""

    seed: int
    ranges: tuple[TimeoutRange, ...]
    downtimes: dict[str, list[float | None]]
    wall_seconds: float
    setup: Setup = PAPER

    def summary(self, timeouts: TimeoutRange) -> RangeSummary:
        values = self.downtimes[timeouts.label]
        ordered = sorted(math.inf if v is None else v for v in values)

        def rank(fraction: float) -> float | None:
            # Nearest-rank percentile over all trials; a trial without leader counts as longest.
            if not ordered:
                return None
            v = ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]
            return None if math.isinf(v) else v

        return RangeSummary(
            label=timeouts.label,
            trials=len(values),
            no_leader=sum(1 for v in values if v is None),
            min=rank(0.0),
            mean=None if not ordered or math.isinf(ordered[-1]) else sum(ordered) / len(ordered),
            median=rank(0.5),
            p90=rank(0.9),
            p99=rank(0.99),
            max=rank(1.0),
        )

    def rows(self) -> Iterator[tuple[str, int, float | None]]:
        """``(range, trial, downtime)`` in range order, trials numbered from 1."""
        for timeouts in self.ranges:
            for i, value in enumerate(self.downtimes[timeouts.label], start=1):
                yield timeouts.label, i, value


def election_timing(
    ranges: Sequence[TimeoutRange] = DEFAULT_RANGES,
    trials: int = 1000,
    seed: int = 1,
    workers: int = 1,
    progress: Callable[[str], None] | None = None,
    setup: Setup = PAPER,
) -> ElectionTimingResult:
    """Run ``trials`` trials per range, on ``workers`` processes (1: in this process)."""
    if not 1 <= trials <= MAX_TRIALS:
        raise ValueError(f"trials must be 1..{MAX_TRIALS}, got {trials}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    ranges = tuple(ranges)
    started = time.perf_counter()
    tasks = [
        (timeouts, seed, first, min(CHUNK, trials - first), setup)
        for timeouts in ranges
        for first in range(0, trials, CHUNK)
    ]
    chunks: dict[str, dict[int, list[float | None]]] = {r.label: {} for r in ranges}
    done = {r.label: 0 for r in ranges}

    def collect(results: Iterator[tuple[str, int, list[float | None]]]) -> None:
        for label, first, downtimes in results:
            chunks[label][first] = downtimes
            done[label] += len(downtimes)
            if done[label] == trials and progress is not None:
                no_leader = sum(1 for c in chunks[label].values() for v in c if v is None)
                progress(
                    f"election-timing: range {label} ms done: {trials} trials, {no_leader} "
                    f"without leader ({time.perf_counter() - started:.1f} s elapsed)"
                )

    if workers == 1 or len(tasks) == 1:
        collect(_run_chunk(task) for task in tasks)
    else:
        with multiprocessing.Pool(min(workers, len(tasks))) as pool:
            collect(pool.imap_unordered(_run_chunk, tasks))
    downtimes = {
        label: [v for first in sorted(parts) for v in parts[first]]
        for label, parts in chunks.items()
    }
    return ElectionTimingResult(seed, ranges, downtimes, time.perf_counter() - started, setup)


# ------------------------------------------------------------------ reporting


def _ms(value: float | None) -> str:
    return f">{NO_LEADER_LIMIT_MS:g}" if value is None else f"{value:.1f}"


def format_table(result: ElectionTimingResult) -> str:
    """One line per range: trials, trials without a leader, and downtime statistics in ms."""
    head = ("range ms", "trials", "no leader", "min", "mean", "median", "p90", "p99", "max")
    lines = [head]
    for timeouts in result.ranges:
        s = result.summary(timeouts)
        lines.append((
            s.label, str(s.trials), str(s.no_leader),
            _ms(s.min), _ms(s.mean), _ms(s.median), _ms(s.p90), _ms(s.p99), _ms(s.max),
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = [
        "  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                  enumerate(zip(line, widths, strict=True))).rstrip()
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def write_csv(result: ElectionTimingResult, path: Path) -> None:
    """One row per trial; ``downtime_ms`` is empty for a trial without a leader.

    Every row also names the setup that produced it (preset, one-way latency, fsync time), so
    a file read on its own, or rows of several runs put together, still say where they came from.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        setup = result.setup
        for label, trial, value in result.rows():
            writer.writerow((
                label, trial, "" if value is None else f"{value:.3f}",
                setup.name, setup.latency, f"{setup.fsync_ms:g}",
            ))


def plot_cdf(result: ElectionTimingResult, path: Path) -> None:
    """Cumulative percent of trials with a leader against time without one (like Fig. 16).

    The 150-x ranges go on the top panel, the others on the bottom one; trials without a
    leader count in the denominator, so their curve stops below 100%.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    top = [r for r in result.ranges if r.low == 150]
    bottom = [r for r in result.ranges if r.low != 150]
    panels = [group for group in (top, bottom) if group]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.4 * len(panels)), squeeze=False)
    for ax, group in zip(axes[:, 0], panels, strict=True):
        shortest, longest = NO_LEADER_LIMIT_MS, 0.0
        for i, timeouts in enumerate(group):
            # Line styles as well as colours, so the curves can be told apart in grey too.
            style = ("-", "--", "-.", ":")[i % 4]
            values = result.downtimes[timeouts.label]
            found = sorted(v for v in values if v is not None)
            missing = len(values) - len(found)
            label = f"{timeouts.label} ms"
            if missing:
                label += f" ({missing} without leader)"
            if not found:
                ax.plot([], [], style, label=label)
                continue
            shortest = min(shortest, found[0])
            longest = max(longest, NO_LEADER_LIMIT_MS if missing else found[-1])
            xs = [found[0], *found]
            ys = [0.0, *(100.0 * (i + 1) / len(values) for i in range(len(found)))]
            if missing:  # the curve goes on, flat, to the limit
                xs.append(NO_LEADER_LIMIT_MS)
                ys.append(ys[-1])
            ax.step(xs, ys, style, where="post", label=label)
        ax.set_xscale("log")
        # Plain numbers at 1-2-5 steps: easier to read off than 10^n with crowded minor labels.
        ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        if longest > 0:
            ax.set_xlim(shortest / 1.2, min(longest * 1.2, NO_LEADER_LIMIT_MS))
        ax.set_ylim(0, 100)
        ax.set_ylabel("cumulative percent")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  title="election timeout")
    axes[-1, 0].set_xlabel("time without leader (ms)")
    fig.suptitle(
        "Time to elect a new leader after the leader crashes "
        f"({len(next(iter(result.downtimes.values())))} trials per range, seed {result.seed})\n"
        f"{result.setup.describe()}",
        fontsize="medium",
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120, metadata={
        "Title": "raftviz election-timing (Raft paper, Figure 16)",
        "Description": f"{result.setup.describe()}; seed {result.seed}",
    })
    plt.close(fig)
