"""The errors the simulation raises at its callers (in a module of its own, imported by all).

Every error says what was wrong and what would work; none leaves the cluster half changed.
"""

from __future__ import annotations


class CommandError(ValueError):
    """A command that cannot be applied; the message says why and what would work."""


class WorkLimitError(CommandError):
    """A request stopped by a work guard (docs/deploy.md, "Limits").

    The run stands between two events, where it got to: every event is processed whole or not
    at all, so the cluster is consistent and the session can go on (seek back, reset, or ask
    for less at a time).
    """
