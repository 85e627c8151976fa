"""The one schema (raftviz/sim/config.py): every field has a range; a refusal names it."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import pytest

from raftviz.core.paxos import PaxosSettings
from raftviz.core.raft import RaftSettings
from raftviz.sim import config as schema
from raftviz.sim.engine.clients import ClientSettings
from raftviz.sim.engine.cluster import ClusterConfig, CommandError
from raftviz.sim.engine.network import LinkParams
from raftviz.sim.history import History, config_from_json
from raftviz.sim.snapshot import snapshot

SECTIONS: dict[str, type[Any]] = {
    "settings": RaftSettings,
    "paxos": PaxosSettings,
    "network": LinkParams,
    "clients": ClientSettings,
}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_field_has_exactly_one_schema_line(section: str) -> None:
    """Adding a settings field without its range (one line in SCHEMA) fails here."""
    declared = {f.name for f in fields(SECTIONS[section])}
    assert set(schema.SCHEMA[section]) == declared


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_defaults_are_within_their_ranges(section: str) -> None:
    schema.check(section, SECTIONS[section](), section)


def _numeric() -> list[tuple[str, str, schema.Number]]:
    return [
        (section, name, spec)
        for section in ("config", *SECTIONS)
        for name, spec in schema.SCHEMA[section].items()
        if isinstance(spec, schema.Number)
    ]


def _config_json(section: str, name: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"protocol": "paxos"} if section == "paxos" else {}
    if section == "config":
        data[name] = value
    else:
        data[section] = {name: value}
    return data


@pytest.mark.parametrize(("section", "name", "spec"), _numeric(),
                         ids=[f"{s}.{n}" for s, n, _ in _numeric()])
def test_each_number_is_refused_just_outside_its_range_and_named(
    section: str, name: str, spec: schema.Number
) -> None:
    where = f"config.{name}" if section == "config" else f"config.{section}.{name}"
    step = 1 if spec.whole else spec.high * 1e-6 or 1e-9
    for bad in (spec.low - step, spec.high + step, "5", True, None):
        with pytest.raises(CommandError) as caught:
            config_from_json(_config_json(section, name, bad))
        message = str(caught.value)
        assert message.startswith(f"{where} must be {spec.describe()}"), message
        assert str(int(spec.low) if spec.whole else f"{spec.low:g}") in message
    if section == "config" and name == "size":
        return
    # The ends of the range are accepted (paired fields are moved along so that min <= max).
    for good in (spec.low, spec.high):
        data = _config_json(section, name, good)
        if section in schema.ORDERED:
            for low, high in schema.ORDERED[section]:
                if name in (low, high):
                    data[section] = {low: good, high: good}
        config_from_json(data)


def test_the_issue_13_configuration_is_refused_naming_field_and_range() -> None:
    with pytest.raises(CommandError, match=r"config\.clients\.attempt_timeout must be a number "
                                           r"within 1\.\.600000 ms, got 0"):
        config_from_json({"size": 5, "seed": 1, "clients": {"attempt_timeout": 0}})


def test_a_minimum_above_its_maximum_is_refused() -> None:
    with pytest.raises(CommandError, match=r"config\.network\.latency_min \(50\) must not exceed "
                                           r"config\.network\.latency_max \(20\)"):
        config_from_json({"network": {"latency_min": 50}})
    with pytest.raises(CommandError, match="election_timeout_min"):
        config_from_json({"settings": {"election_timeout_min": 400}})


def test_configurations_built_in_code_are_checked_too() -> None:
    """The command line and tests build ClusterConfig directly: the same schema applies."""
    with pytest.raises(CommandError, match=r"config\.settings\.heartbeat_interval"):
        ClusterConfig(settings=RaftSettings(heartbeat_interval=0.0)).validate()
    with pytest.raises(CommandError, match=r"config\.clients\.retry_delay"):
        ClusterConfig(clients=ClientSettings(retry_delay=-1.0)).validate()


def _frozen(h: History) -> str:
    return json.dumps([snapshot(h.cluster), h.export_trace()], sort_keys=True)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ({"type": "settings", "changes": {"heartbeat_interval": 0}},
         "setting heartbeat_interval must be a number within 1..30000 ms, got 0"),
        ({"type": "settings", "changes": {"pre_vote": True, "max_batch": 0}},
         "setting max_batch must be a whole number within 1..10000 entries, got 0"),
        ({"type": "settings", "changes": {"election_timeout_min": 301}},
         "setting election_timeout_min (301) must not exceed election_timeout_max (300)"),
        ({"type": "settings", "changes": {"lease_drift_bound": 0.9}}, "within 0..0.5"),
        ({"type": "network", "latency_min": 0, "latency_max": 0}, "network.latency_min"),
        ({"type": "network", "latency_min": 5, "latency_max": 20, "drop": 1.5}, "network.drop"),
    ],
)
def test_a_refused_setting_changes_nothing(command: dict[str, Any], words: str) -> None:
    h = History(ClusterConfig(size=3, seed=2))
    h.run_for(700)
    before = _frozen(h)
    with pytest.raises(CommandError) as caught:
        h.apply_json(command)
    assert words in str(caught.value)
    assert _frozen(h) == before


def test_paxos_mode_is_chosen_with_the_cluster_not_changed_later() -> None:
    h = History(config_from_json({"protocol": "paxos", "size": 3}))
    with pytest.raises(CommandError, match="unknown setting 'mode'; settings are backoff, "):
        h.apply_json({"type": "settings", "changes": {"mode": True}})
    with pytest.raises(CommandError, match=r"config\.paxos\.mode must be one of 'basic', 'multi'"):
        config_from_json({"protocol": "paxos", "paxos": {"mode": "fancy"}})


def test_an_accepted_change_is_made_with_the_field_s_own_type() -> None:
    h = History(ClusterConfig(size=3, seed=2))
    h.apply_json({"type": "settings", "changes": {"heartbeat_interval": 40, "max_batch": 8}})
    s = h.cluster.settings
    assert isinstance(s, RaftSettings)
    assert (s.heartbeat_interval, s.max_batch) == (40.0, 8)
    assert isinstance(s.heartbeat_interval, float)
