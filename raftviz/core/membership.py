"""Cluster configurations and the majorities they count (Raft paper section 6, thesis chapter 4).

A :class:`Configuration` is the set of voting servers. During joint consensus (paper section 6)
it also carries the old voters, C_old,new: then every decision (an election, a commit, a
confirmed round) needs a majority of the old voters *and* a majority of the new ones. A
configuration travels in a log entry and takes effect on a server as soon as it is appended to
that server's log, committed or not (thesis 4.1); :class:`ConfigHistory` keeps the
configuration entries of one log so a truncation can fall back to the previous one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any


class MembershipError(ValueError):
    """A configuration change a leader cannot start now; the message says why."""


def _majority(count: int) -> int:
    return count // 2 + 1


def _agreed_by(voters: frozenset[str], values: Mapping[str, int]) -> int:
    """The highest value that a majority of ``voters`` have reached (0 when nobody votes)."""
    if not voters:
        return 0
    ranked = sorted(map(values.get, voters, repeat(0)), reverse=True)
    return ranked[len(voters) // 2]  # the majority-th highest (_majority - 1)


@dataclass(frozen=True, slots=True)
class Configuration:
    """The voting servers of a cluster; ``old_voters`` is set only during joint consensus."""

    voters: frozenset[str]
    old_voters: frozenset[str] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> Configuration:
        return self  # immutable: checkpoints share it

    @classmethod
    def of(cls, voters: Iterable[str]) -> Configuration:
        return cls(frozenset(voters))

    @property
    def joint(self) -> bool:
        return self.old_voters is not None

    @property
    def members(self) -> frozenset[str]:
        """Every server that votes in this configuration (old and new during a joint one)."""
        old = self.old_voters
        return self.voters if old is None else self.voters | old

    def has_quorum(self, granted: Iterable[str]) -> bool:
        """Whether ``granted`` holds a majority of the voters (of both sets when joint)."""
        ids = set(granted)
        if len(ids & self.voters) < _majority(len(self.voters)):
            return False
        old = self.old_voters
        return old is None or len(ids & old) >= _majority(len(old))

    def agreed(self, values: Mapping[str, int]) -> int:
        """The highest value (a match index, a round number) that every counting majority reached.

        Joint consensus takes the lower of the two majorities' values (paper section 6).
        """
        value = _agreed_by(self.voters, values)
        if self.old_voters is not None:
            value = min(value, _agreed_by(self.old_voters, values))
        return value

    def majorities(self) -> list[dict[str, object]]:
        """The majorities that count, for the snapshot: each voter set and how many it needs."""
        sets = [self.voters] if self.old_voters is None else [self.old_voters, self.voters]
        names = ["new"] if self.old_voters is None else ["old", "new"]
        return [
            {"name": name, "voters": sorted(s), "needed": _majority(len(s))}
            for name, s in zip(names, sets, strict=True)
        ]

    def describe(self) -> str:
        """Short text, e.g. ``{n1,n2,n3}`` or ``C_old,new {n1,n2,n3} + {n1,n2,n3,n4}``."""
        new = "{" + ",".join(sorted(self.voters)) + "}"
        if self.old_voters is None:
            return new
        return "C_old,new {" + ",".join(sorted(self.old_voters)) + "} + " + new

    def to_json(self) -> dict[str, object]:
        return {
            "voters": sorted(self.voters),
            "old_voters": sorted(self.old_voters) if self.old_voters is not None else None,
            "joint": self.joint,
            "majorities": self.majorities(),
        }


class ConfigHistory:
    """The configuration entries of one log, newest last, over a base configuration.

    ``base`` is the configuration in force before the first entry of the log (the cluster's
    initial voters, or what a snapshot recorded).
    """

    __slots__ = ("base", "entries", "latest")

    def __init__(self, base: Configuration, entries: Iterable[tuple[int, Configuration]] = ()):
        self.base = base
        self.entries: list[tuple[int, Configuration]] = list(entries)
        # Thesis 4.1: a server uses the latest configuration in its log, committed or not.
        # Kept up to date by the two methods that change the entries: a node reads it for
        # nearly every message it handles.
        self.latest = self.entries[-1][1] if self.entries else base

    @property
    def previous(self) -> Configuration:
        """The configuration the latest one replaced."""
        return self.entries[-2][1] if len(self.entries) > 1 else self.base

    @property
    def latest_index(self) -> int:
        return self.entries[-1][0] if self.entries else 0

    def appended(self, index: int, config: Configuration) -> None:
        self.entries.append((index, config))
        self.latest = config

    def truncated_from(self, index: int) -> bool:
        """Forget entries at ``index`` and later; True when the latest configuration changed."""
        before = len(self.entries)
        while self.entries and self.entries[-1][0] >= index:
            self.entries.pop()
        self.latest = self.entries[-1][1] if self.entries else self.base
        return len(self.entries) != before

    def __deepcopy__(self, memo: dict[int, Any]) -> ConfigHistory:
        return self.copy()

    def copy(self) -> ConfigHistory:
        """An independent copy (the configurations themselves are immutable, so shared)."""
        return ConfigHistory(self.base, self.entries)
