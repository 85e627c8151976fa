"""The ``hello`` message and the page defaults: what the page needs to know before any frame."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from raftviz.core.paxos import PaxosSettings
from raftviz.core.raft import RaftSettings
from raftviz.service.sessions import DEFAULT_SPEED, MAX_SPEED, MIN_SPEED, Limits
from raftviz.sim import config as config_schema
from raftviz.sim.checks.raft_invariants import INVARIANTS
from raftviz.sim.engine.cluster import ClusterConfig
from raftviz.sim.engine.commands import COMMANDS
from raftviz.sim.history import config_to_json

PROTOCOL_VERSION = 1
FRAME_HZ = 20

# Labels and one-line help for the settings panel, in the paper's words (docs/commands.md).
_SETTING_TEXT: dict[str, tuple[str, str]] = {
    "election_timeout_min": (
        "Election timeout min (ms)",
        "Lower bound of the randomized election timeout.",
    ),
    "election_timeout_max": (
        "Election timeout max (ms)",
        "Upper bound of the randomized election timeout.",
    ),
    "heartbeat_interval": (
        "Heartbeat interval (ms)",
        "How often a leader sends AppendEntries when it has nothing new.",
    ),
    "noop_on_election": (
        "No-op on election",
        "A new leader appends a no-op entry so it can commit entries of earlier terms (section 8).",
    ),
    "fast_backup": (
        "Fast log backup",
        "Rejections carry the conflicting term and its first index, so the leader skips a whole "
        "term at a time instead of one entry.",
    ),
    "pre_vote": (
        "Pre-vote",
        "A node asks whether it could win before starting a real election, so a rejoining node "
        "does not disrupt a working leader (thesis 9.6).",
    ),
    "check_quorum": (
        "CheckQuorum",
        "A leader that has not heard from a majority steps down; followers that hear from a "
        "leader ignore vote requests for a while.",
    ),
    "max_batch": ("Max entries per AppendEntries", "How many entries one AppendEntries carries."),
    "lease_drift_bound": (
        "Lease clock drift bound",
        "The clock drift the leader assumes when it computes how long its read lease lasts.",
    ),
    "snapshot_threshold": (
        "Snapshot threshold (entries, 0 = off)",
        "A server snapshots its state machine and discards its log up to there once it has "
        "applied this many entries since its last snapshot (section 7).",
    ),
    "snapshot_chunk_size": (
        "Snapshot chunk (bytes)",
        "How many bytes of a snapshot one InstallSnapshot message carries (Figure 13).",
    ),
    "no_majority": (
        "Teaching: no majority",
        "UNSAFE: a candidate wins alone and a leader commits alone.",
    ),
    "commit_old_terms": (
        "Teaching: commit old terms",
        "UNSAFE: a leader commits entries of earlier terms by counting replicas (the Figure 8 "
        "mistake).",
    ),
    "unsafe_lease": (
        "Teaching: unsafe lease",
        "UNSAFE: the read lease outlives the election timeout.",
    ),
    "joint_consensus": (
        "Joint consensus",
        "Membership changes go through C_old,new, counting majorities of both old and new "
        "voters (paper section 6), instead of one server at a time (thesis 4.1).",
    ),
    "unsafe_config_change": (
        "Teaching: change before committing",
        "UNSAFE: a new leader may change the membership before it commits an entry of its own "
        "term (the single-server change bug: two leaders of one term).",
    ),
}


_PAXOS_SETTING_TEXT: dict[str, tuple[str, str]] = {
    "election_timeout_min": (
        "Election timeout min (ms)",
        "Multi-Paxos: the least silence from the leader before a node starts phase 1.",
    ),
    "election_timeout_max": (
        "Election timeout max (ms)",
        "Multi-Paxos: upper bound of the randomized silence before phase 1.",
    ),
    "heartbeat_interval": (
        "Heartbeat interval (ms)",
        "Multi-Paxos: how often the leader shows it is alive.",
    ),
    "proposal_timeout": (
        "Proposal timeout (ms)",
        "Basic Paxos: a round without a majority by then is given up.",
    ),
    "backoff": (
        "Random back-off",
        "Basic Paxos: wait a random time before retrying a pre-empted round (dueling proposers).",
    ),
    "backoff_max": ("Back-off max (ms)", "The back-off wait is uniform in 0 up to this."),
    "max_batch": (
        "Max slots per message",
        "Slots per catch-up Learn, and per Accept retransmission round.",
    ),
    "forgetful_acceptors": (
        "Teaching: forgetful acceptors",
        "UNSAFE: acceptors keep promises and accepted values in memory only, so a restart "
        "forgets them.",
    ),
    "ignore_promised_values": (
        "Teaching: ignore promised values",
        "UNSAFE: proposers ignore the values reported in phase 1 and propose their own.",
    ),
}


def _schema(
    cls: Any, text: dict[str, tuple[str, str]], section: str
) -> dict[str, dict[str, Any]]:
    """Every setting of ``cls`` a running cluster can change: type, teaching mode, label, help,
    and for numbers the range the server accepts (``min``, ``max``, ``whole``)."""
    ranges = config_schema.ranges(section)
    every_bool_on = cls(**{f.name: True for f in fields(cls) if isinstance(f.default, bool)})
    teaching = set(every_bool_on.teaching_modes())
    schema = {}
    for f in fields(cls):
        if not isinstance(f.default, (bool, int, float)):
            continue  # chosen when the cluster is made (Paxos `mode`), not a runtime setting
        label, help_text = text.get(f.name, (f.name.replace("_", " ").capitalize(), ""))
        schema[f.name] = {
            "type": "bool" if isinstance(f.default, bool) else "number",
            "teaching": f.name in teaching,
            "label": label,
            "help": help_text,
            **ranges.get(f.name, {}),
        }
    return schema


def settings_schema() -> dict[str, dict[str, Any]]:
    """Every Raft setting: its type, whether it is an unsafe teaching mode, label, help."""
    return _schema(RaftSettings, _SETTING_TEXT, "settings")


def paxos_settings_schema() -> dict[str, dict[str, Any]]:
    """The same for a Paxos cluster (``config.protocol == "paxos"``)."""
    return _schema(PaxosSettings, _PAXOS_SETTING_TEXT, "paxos")


def limits_json(limits: Limits) -> dict[str, Any]:
    return {
        "max_nodes": limits.max_nodes,
        "max_speed": MAX_SPEED,
        "min_speed": MIN_SPEED,
        "frame_hz": FRAME_HZ,
        "max_time": limits.max_time,
        "max_advance_ms": limits.max_advance_ms,
    }


def hello_message(token: str, limits: Limits) -> dict[str, Any]:
    return {
        "session": token,
        "version": PROTOCOL_VERSION,
        "limits": limits_json(limits),
        "commands": sorted(COMMANDS),
        "invariants": dict(INVARIANTS),
        "settings_schema": settings_schema(),
        "paxos_settings_schema": paxos_settings_schema(),
    }


def page_defaults(config: ClusterConfig, limits: Limits) -> dict[str, Any]:
    """The ``defaults`` the page template embeds: the default cluster, speed and limits."""
    return {
        "config": config_to_json(config),
        "speed": DEFAULT_SPEED,
        "limits": limits_json(limits),
        "protocol_version": PROTOCOL_VERSION,
    }
