"""Every command type through the `command` event changes what the page sees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from raftviz.sim.engine.commands import COMMANDS

from .conftest import Page

Check = Callable[[Page], None]


def _node(page: Page, node_id: str) -> dict[str, Any]:
    return page.node(node_id)


def _client(page: Page, client_id: str) -> dict[str, Any]:
    return next(c for c in page.state["clients"] if c["id"] == client_id)


def _elect(page: Page) -> str:
    assert page.player(action="run_until", condition="leader")["reached"] is True
    leader = page.state["leader"]
    assert isinstance(leader, str)
    return leader


def _manual_with_messages(page: Page) -> int:
    """Manual delivery on, and a message held in flight; returns its id."""
    _elect(page)
    page.command(type="manual", on=True)
    page.player(action="advance", ms=60)
    assert page.state["messages"], "a heartbeat should be waiting in flight"
    message_id: int = page.state["messages"][0]["id"]
    return message_id


def check_crash(page: Page) -> None:
    page.command(type="crash", node="n2")
    assert _node(page, "n2")["state"] == "crashed"
    assert _node(page, "n2")["role"] == "crashed"


def check_restart(page: Page) -> None:
    page.command(type="crash", node="n2")
    page.command(type="restart", node="n2")
    assert _node(page, "n2")["state"] == "up"
    assert _node(page, "n2")["incarnation"] == 1


def check_pause(page: Page) -> None:
    page.command(type="pause", node="n3", freeze_clock=True)
    assert _node(page, "n3")["state"] == "paused"
    assert _node(page, "n3")["clock"]["frozen"] is True
    assert "n3" in page.state["clock_beyond_bound"]


def check_resume(page: Page) -> None:
    page.command(type="pause", node="n3")
    page.command(type="resume", node="n3")
    assert _node(page, "n3")["state"] == "up"


def check_timeout(page: Page) -> None:
    page.command(type="timeout", node="n4")
    n4 = _node(page, "n4")
    assert n4["role"] in ("candidate", "pre-candidate")
    assert n4["term"] == 1 and n4["voted_for"] == "n4"
    # The RequestVotes wait for n4's fsync of its term and vote, then fly.
    assert n4["disk"]["writing"]["term"] == 1 and n4["disk"]["writing"]["held"] == 4
    page.player(action="advance", ms=n4["disk"]["fsync_ms"])
    assert any(m["kind"] == "RequestVote" and m["from"] == "n4" for m in page.state["messages"])


def check_clock(page: Page) -> None:
    page.command(type="clock", node="n1", rate=2.0)
    assert _node(page, "n1")["clock"]["rate"] == 2.0
    assert "n1" in page.state["clock_beyond_bound"]


def check_client(page: Page) -> None:
    leader = _elect(page)
    page.command(type="client", op="set", key="x", value="41", client="alice")
    pending = _client(page, "alice")["pending"]
    assert pending is not None and pending["command"] == "SET x=41"
    page.player(action="advance", ms=500)
    assert _client(page, "alice")["pending"] is None
    done = [o for o in page.ops if o["client"] == "alice"]
    assert [(o["command"], o["status"]) for o in done] == [("SET x=41", "ok")]
    lead = _node(page, leader)
    committed = [e for e in page.log(leader) if e[0] <= lead["commit_index"]]
    assert any(e[2] == "SET x=41" for e in committed)
    assert lead["kv"]["x"] == "41"


def check_fenced_write(page: Page) -> None:
    _elect(page)
    page.command(type="client", op="acquire", key="lock", client="c1", ttl=5000)
    page.player(action="advance", ms=500)
    assert _client(page, "c1")["token"] > 0
    page.command(type="fenced_write", client="c1", value="hello")
    assert page.state["resource"]["value"] == "hello"


def check_pause_client(page: Page) -> None:
    page.command(type="client", op="get", key="x", client="bob")
    page.command(type="pause_client", client="bob")
    assert _client(page, "bob")["paused"] is True


def check_resume_client(page: Page) -> None:
    page.command(type="client", op="get", key="x", client="bob")
    page.command(type="pause_client", client="bob")
    page.command(type="resume_client", client="bob")
    assert _client(page, "bob")["paused"] is False


def check_partition(page: Page) -> None:
    page.command(type="partition", groups=[["n1", "n2"], ["n3", "n4", "n5"]])
    assert page.state["network"]["groups"] == [["n1", "n2"], ["n3", "n4", "n5"]]


def check_heal(page: Page) -> None:
    page.command(type="partition", groups=[["n1"], ["n2", "n3", "n4", "n5"]])
    page.command(type="cut", src="n2", dst="n3")
    page.command(type="heal")
    assert page.state["network"]["groups"] == []
    assert page.state["network"]["cut"] == []


def check_cut(page: Page) -> None:
    page.command(type="cut", src="n1", dst="n2", both=False)
    assert page.state["network"]["cut"] == [["n1", "n2"]]


def check_restore(page: Page) -> None:
    page.command(type="cut", src="n1", dst="n2")
    page.command(type="restore", src="n1", dst="n2", both=False)
    assert page.state["network"]["cut"] == [["n2", "n1"]]


def check_network(page: Page) -> None:
    page.command(type="network", latency_min=30, latency_max=45, drop=0.1)
    defaults = page.state["network"]["defaults"]
    assert (defaults["latency_min"], defaults["latency_max"], defaults["drop"]) == (30, 45, 0.1)
    page.command(type="network", latency_min=5, latency_max=6, link=["n1", "n2"])
    assert page.state["network"]["links"]


def check_manual(page: Page) -> None:
    page.command(type="manual", on=True)
    assert page.state["network"]["manual"] is True
    assert page.state["player"]["manual"] is True


def check_deliver(page: Page) -> None:
    message_id = _manual_with_messages(page)
    page.command(type="deliver", id=message_id)
    assert message_id not in [m["id"] for m in page.state["messages"]]
    assert page.state["metrics"]["messages_delivered"] > 0


def check_drop(page: Page) -> None:
    message_id = _manual_with_messages(page)
    page.command(type="drop", id=message_id)
    assert message_id not in [m["id"] for m in page.state["messages"]]
    dropped = page.state["dropped"]
    assert dropped[-1]["id"] == message_id and dropped[-1]["why"] == "dropped by you"


def check_settings(page: Page) -> None:
    page.command(type="settings", changes={"pre_vote": True, "no_majority": True})
    assert page.state["settings"]["pre_vote"] is True
    assert page.state["teaching_modes"] == ["no_majority"]


def check_workload(page: Page) -> None:
    _elect(page)
    page.command(type="workload", rate=50, read_ratio=0.5)
    assert page.state["workload"]["rate"] == 50
    page.player(action="advance", ms=1000)
    assert len(page.ops) > 10
    page.command(type="workload", rate=0)
    assert page.state["workload"] is None


def check_disk(page: Page) -> None:
    page.command(type="disk", node="n2", fsync_ms=400)
    disk = _node(page, "n2")["disk"]
    assert (disk["fsync_ms"], disk["slow"]) == (400, True)
    assert _node(page, "n1")["disk"]["slow"] is False


def _settled_leader(page: Page) -> str:
    """A leader that has committed an entry of its term (so it may change the membership)."""
    leader = _elect(page)
    page.player(action="advance", ms=300)
    assert page.state["leader"] == leader
    return leader


def check_add_server(page: Page) -> None:
    leader = _settled_leader(page)
    page.command(type="add_server")
    assert _node(page, "n6")["membership"] == "learner"
    page.player(action="advance", ms=500)
    assert _node(page, "n6")["membership"] == "voter"
    assert "n6" in _node(page, leader)["config"]["voters"]


def check_remove_server(page: Page) -> None:
    leader = _settled_leader(page)
    other = next(n for n in ("n1", "n2") if n != leader)
    page.command(type="remove_server", node=other)
    assert _node(page, other)["membership"] == "removed"
    assert other not in _node(page, leader)["config"]["voters"]


def check_transfer_leadership(page: Page) -> None:
    leader = _settled_leader(page)
    target = next(n for n in ("n1", "n2") if n != leader)
    page.command(type="transfer_leadership", node=target)
    assert _node(page, leader)["leader_state"]["transfer_to"] == target
    page.player(action="advance", ms=300)
    assert page.state["leader"] == target


def check_snapshot(page: Page) -> None:
    leader = _elect(page)
    page.command(type="client", op="set", key="x", value="1", node=leader, client="c1")
    page.player(action="advance", ms=200)
    applied = _node(page, leader)["last_applied"]
    assert applied >= 2
    page.command(type="snapshot", node=leader)
    node = _node(page, leader)
    assert node["snapshot"]["last_included_index"] == applied
    assert node["log_length"] == applied


def check_propose(page: Page) -> None:
    leader = _elect(page)
    page.command(type="propose", node=leader, op="set", key="x", value="5")
    assert page.log(leader)[-1][2] == "SET x=5"
    assert page.ops == []  # a raw proposal is no client operation


def check_inject(page: Page) -> None:
    leader = _elect(page)
    page.command(type="manual", on=True)
    page.command(type="inject", message={
        "kind": "RequestVote", "src": "n1" if leader != "n1" else "n2", "dst": leader, "term": 50,
        "last_log_index": 0, "last_log_term": 0})
    assert any(m["kind"] == "RequestVote" for m in page.state["messages"])


def check_heartbeat(page: Page) -> None:
    leader = _elect(page)
    page.command(type="manual", on=True)
    page.command(type="heartbeat", node=leader)
    # A leader elected a moment ago may still be fsyncing its no-op: its AppendEntries wait.
    page.player(action="advance", ms=10)
    sent = [m for m in page.state["messages"] if m["kind"] == "AppendEntries"]
    assert len(sent) >= 2


def check_drop_kind(page: Page) -> None:
    _elect(page)
    page.command(type="drop_kind", kinds=["AppendEntries"])
    page.player(action="advance", ms=200)
    assert any("AppendEntries messages are being dropped" in d["why"]
               for d in page.state["dropped"])


def check_jitter(page: Page) -> None:
    page.command(type="jitter", ms=100)
    assert any("100 ms extra" in e["text"] for e in page.events)


CHECKS: dict[str, Check] = {
    "crash": check_crash,
    "restart": check_restart,
    "pause": check_pause,
    "resume": check_resume,
    "timeout": check_timeout,
    "clock": check_clock,
    "client": check_client,
    "fenced_write": check_fenced_write,
    "pause_client": check_pause_client,
    "resume_client": check_resume_client,
    "partition": check_partition,
    "heal": check_heal,
    "cut": check_cut,
    "restore": check_restore,
    "network": check_network,
    "manual": check_manual,
    "deliver": check_deliver,
    "drop": check_drop,
    "settings": check_settings,
    "workload": check_workload,
    "disk": check_disk,
    "snapshot": check_snapshot,
    "add_server": check_add_server,
    "remove_server": check_remove_server,
    "transfer_leadership": check_transfer_leadership,
    "propose": check_propose,
    "inject": check_inject,
    "heartbeat": check_heartbeat,
    "drop_kind": check_drop_kind,
    "jitter": check_jitter,
}


def test_every_command_type_has_a_check() -> None:
    assert sorted(CHECKS) == sorted(COMMANDS)


@pytest.mark.parametrize("kind", sorted(CHECKS))
def test_command(tab: Page, kind: str) -> None:
    CHECKS[kind](tab)
    assert tab.frames[-1]["full"] is False
    tab.assert_in_sync()
    # The command is in the session's history, so a trace carries it.
    trace = tab.ok("trace_export")["trace"]
    assert kind in [c["command"]["type"] for c in trace["commands"]]


def test_a_command_sends_one_delta_frame(tab: Page) -> None:
    client = tab.client
    client.emit("command", {"command": {"type": "crash", "node": "n1"}}, callback=True)
    frames = [m for m in client.get_received() if m["name"] == "frame"]
    assert len(frames) == 1
    assert frames[0]["args"][0]["nodes"][0]["state"] == "crashed"
