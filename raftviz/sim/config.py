"""The one schema of every configuration and settings field, with the range that keeps it sound.

Every way a value reaches a cluster goes through here: a ``reset``'s configuration, an imported
trace or share link, a lesson file's ``setup``, a classroom's cluster, the ``settings`` and
``network`` commands, the command line's ``--set``. A value outside its range is refused with an
error naming the field and the range, before anything changes.

The ranges are not arbitrary: a timeout, interval, latency or retry delay of zero lets the
simulation schedule events that cause more events at the same instant, for ever; sizes and counts
are bounded so that one run stays small. The scheduler's zero-time guard
(:class:`~raftviz.sim.engine.scheduler.WorkMeter`) catches what a schema cannot.

Adding a field to ``RaftSettings`` (raftviz/core/raft.py), ``PaxosSettings`` (core/paxos.py),
``LinkParams`` (sim/engine/network.py) or ``ClientSettings`` (sim/engine/clients.py) takes one
line in :data:`SCHEMA` (tests/sim/test_config.py fails until it is there)::

    "snapshot_threshold": whole(0, 100_000, "entries"),

Rules between fields (a minimum below its maximum) go in :data:`ORDERED`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, TypeVar

from raftviz.sim.engine.errors import CommandError

T = TypeVar("T")

MAX_NODES = 9


@dataclass(frozen=True, slots=True)
class Number:
    """A number within ``low..high`` (inclusive); ``whole`` for counts."""

    low: float
    high: float
    unit: str = ""
    whole: bool = False

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        unit = f" {self.unit}" if self.unit else ""
        if self.whole:
            return f"{kind} within {int(self.low)}..{int(self.high)}{unit}"
        return f"{kind} within {self.low:g}..{self.high:g}{unit}"

    def check(self, value: Any) -> float | int | None:
        """The value as its field holds it, or None when it is not in range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        if self.whole and not isinstance(value, int):
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if not self.low <= value <= self.high:
            return None
        return int(value) if self.whole else float(value)


@dataclass(frozen=True, slots=True)
class Flag:
    """true or false."""

    def describe(self) -> str:
        return "true or false"

    def check(self, value: Any) -> bool | None:
        return value if isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class Choice:
    """One of a few words; ``fixed`` when it is chosen with the cluster, not changed later."""

    values: tuple[str, ...]
    fixed: bool = False

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def check(self, value: Any) -> str | None:
        return value if isinstance(value, str) and value in self.values else None


Spec = Number | Flag | Choice
FLAG = Flag()


def ms(low: float, high: float) -> Number:
    """A duration in simulated milliseconds."""
    return Number(low, high, "ms")


def number(low: float, high: float, unit: str = "") -> Number:
    return Number(low, high, unit)


def whole(low: int, high: int, unit: str = "") -> Number:
    return Number(low, high, unit, whole=True)


def choice(*values: str, fixed: bool = False) -> Choice:
    return Choice(values, fixed)


# One line per field: its kind and the range that keeps the simulation meaningful.
SCHEMA: dict[str, dict[str, Spec]] = {
    "config": {
        "size": whole(1, MAX_NODES, "nodes"),
        "seed": whole(0, 2**63 - 1),
        "protocol": choice("raft", "paxos"),
    },
    "settings": {  # RaftSettings
        "election_timeout_min": ms(10, 60_000),
        "election_timeout_max": ms(10, 60_000),
        "heartbeat_interval": ms(1, 30_000),
        "noop_on_election": FLAG,
        "fast_backup": FLAG,
        "pre_vote": FLAG,
        "check_quorum": FLAG,
        "max_batch": whole(1, 10_000, "entries"),
        "lease_drift_bound": number(0, 0.5),
        "no_majority": FLAG,
        "commit_old_terms": FLAG,
        "unsafe_lease": FLAG,
        "joint_consensus": FLAG,
        "unsafe_config_change": FLAG,
        "snapshot_threshold": whole(0, 1_000_000, "entries (0 = off)"),
        "snapshot_chunk_size": whole(16, 1_048_576, "bytes"),
    },
    "paxos": {  # PaxosSettings
        "mode": choice("basic", "multi", fixed=True),
        "election_timeout_min": ms(10, 60_000),
        "election_timeout_max": ms(10, 60_000),
        "heartbeat_interval": ms(1, 30_000),
        "proposal_timeout": ms(1, 60_000),
        "backoff": FLAG,
        "backoff_max": ms(1, 60_000),
        "max_batch": whole(1, 10_000, "slots"),
        "forgetful_acceptors": FLAG,
        "ignore_promised_values": FLAG,
    },
    "network": {  # LinkParams
        "latency_min": ms(0.1, 10_000),
        "latency_max": ms(0.1, 10_000),
        "drop": number(0, 1, "(probability)"),
        "duplicate": number(0, 1, "(probability)"),
    },
    "clients": {  # ClientSettings
        "attempt_timeout": ms(1, 600_000),
        "give_up_after": ms(1, 600_000),
        "retry_delay": ms(1, 60_000),
    },
}

# Pairs (low, high) of one section where low must not exceed high.
ORDERED: dict[str, tuple[tuple[str, str], ...]] = {
    "settings": (("election_timeout_min", "election_timeout_max"),),
    "paxos": (("election_timeout_min", "election_timeout_max"),),
    "network": (("latency_min", "latency_max"),),
}


def describe(section: str, name: str) -> str:
    """What field ``name`` of ``section`` accepts, e.g. "a number within 1..30000 ms"."""
    return SCHEMA[section][name].describe()


def check_value(section: str, name: str, value: Any, where: str) -> Any:
    """``value`` as field ``name`` holds it; CommandError naming ``where`` and the range if not."""
    spec = SCHEMA[section][name]
    checked = spec.check(value.value if isinstance(value, StrEnum) else value)
    if checked is None:
        raise CommandError(f"{where} must be {spec.describe()}, got {_shown(value)}")
    return checked


def from_json(section: str, cls: type[T], data: Any, where: str) -> T:
    """A settings object of type ``cls`` from untrusted JSON (None: the defaults)."""
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise CommandError(f"{where} must be an object")
    known = SCHEMA[section]
    for key in data:
        if key not in known:
            raise CommandError(f"{where}: unknown field {key!r}")
    values = {
        key: check_value(section, key, value, f"{where}.{key}") for key, value in data.items()
    }
    obj = cls(**values)
    check_ordered(section, obj, where)
    return obj


def check(section: str, obj: Any, where: str) -> None:
    """Check every field of a settings object built in code (a CLI flag, a test, a default)."""
    for f in fields(obj):
        if f.name in SCHEMA[section]:
            check_value(section, f.name, getattr(obj, f.name), f"{where}.{f.name}")
    check_ordered(section, obj, where)


def check_ordered(section: str, obj: Any, where: str) -> None:
    for low, high in ORDERED.get(section, ()):
        a, b = getattr(obj, low), getattr(obj, high)
        if a > b:
            raise CommandError(
                f"{where}.{low} ({a:g}) must not exceed {where}.{high} ({b:g})"
            )


def check_changes(
    section: str, changes: Mapping[str, Any], where: str = "setting"
) -> dict[str, Any]:
    """Changes to a running cluster's settings, each checked (names, kinds, ranges)."""
    known = SCHEMA[section]
    values = {}
    for name, value in changes.items():
        if name not in known or _fixed(known[name]):
            settable = sorted(n for n, spec in known.items() if not _fixed(spec))
            raise CommandError(f"unknown setting {name!r}; settings are {', '.join(settable)}")
        values[name] = check_value(section, name, value, f"{where} {name}")
    return values


def changed(section: str, current: T, changes: Mapping[str, Any], where: str = "setting") -> T:
    """``current`` with ``changes`` made on a running cluster; CommandError changes nothing."""
    new = replace(current, **check_changes(section, changes, where))  # type: ignore[type-var]
    for low, high in ORDERED.get(section, ()):
        a, b = getattr(new, low), getattr(new, high)
        if a > b:
            raise CommandError(f"{where} {low} ({a:g}) must not exceed {high} ({b:g})")
    return new


def ranges(section: str) -> dict[str, dict[str, Any]]:
    """The numeric ranges of a section, for the page's inputs (``min``, ``max``, ``step``)."""
    out = {}
    for name, spec in SCHEMA[section].items():
        if isinstance(spec, Number):
            out[name] = {"min": spec.low, "max": spec.high, "whole": spec.whole}
    return out


def _fixed(spec: Spec) -> bool:
    return isinstance(spec, Choice) and spec.fixed


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
