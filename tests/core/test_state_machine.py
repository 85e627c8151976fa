"""The replicated state machine: KV operations, CAS, client sessions, locks and fencing tokens."""

from __future__ import annotations

from raftviz.core.messages import Command, LogEntry, Op, Result
from raftviz.core.state_machine import KVStateMachine, Lock


def apply(sm: KVStateMachine, cmd: Command, time: float = 0.0, term: int = 1) -> Result:
    return sm.apply(LogEntry(term, cmd, time))


def test_set_get_delete() -> None:
    sm = KVStateMachine()
    assert apply(sm, Command(Op.GET, "x")) == Result(True, None)
    assert apply(sm, Command(Op.SET, "x", "1")) == Result(True)
    assert apply(sm, Command(Op.GET, "x")) == Result(True, "1")
    assert sm.read("x") == Result(True, "1")
    assert apply(sm, Command(Op.DELETE, "x")) == Result(True, "1")  # returns what it removed
    assert apply(sm, Command(Op.DELETE, "x")) == Result(True, None)
    assert sm.data == {}
    assert sm.applied == 5


def test_noop_changes_nothing() -> None:
    sm = KVStateMachine()
    apply(sm, Command(Op.SET, "x", "1"))
    assert apply(sm, Command(Op.NOOP)) == Result(True)
    assert sm.data == {"x": "1"} and sm.sessions == {}


def test_cas_swaps_only_on_the_expected_value() -> None:
    sm = KVStateMachine()
    # expected=None means "the key must be absent".
    assert apply(sm, Command(Op.CAS, "x", "1", expected=None)) == Result(True, None)
    assert apply(sm, Command(Op.CAS, "x", "2", expected="0")) == Result(
        False, "1", detail="value differs"
    )
    assert sm.data == {"x": "1"}
    assert apply(sm, Command(Op.CAS, "x", "2", expected="1")) == Result(True, "1")
    assert apply(sm, Command(Op.CAS, "x", "3", expected=None)).ok is False
    assert sm.data == {"x": "2"}


def test_a_retried_request_is_applied_once_and_answered_the_same() -> None:
    """Raft paper, section 8: the session remembers each client's last request and its result."""
    sm = KVStateMachine()
    first = apply(sm, Command(Op.CAS, "x", "1", expected=None, client="c1", request_id=1))
    apply(sm, Command(Op.SET, "x", "other", client="c2", request_id=1))
    # The retry arrives as a second log entry: it must not swap again, and answers as before.
    retry = apply(sm, Command(Op.CAS, "x", "1", expected=None, client="c1", request_id=1))
    assert retry == first == Result(True, None)
    assert sm.data == {"x": "other"}
    assert sm.sessions["c1"] == (1, first)


def test_an_older_request_than_the_session_is_refused_as_stale() -> None:
    sm = KVStateMachine()
    apply(sm, Command(Op.SET, "x", "2", client="c1", request_id=2))
    late = apply(sm, Command(Op.SET, "x", "1", client="c1", request_id=1))
    assert late == Result(False, detail="stale")
    assert sm.data == {"x": "2"}


def test_a_refused_cas_is_remembered_too() -> None:
    sm = KVStateMachine()
    apply(sm, Command(Op.SET, "x", "1"))
    refused = apply(sm, Command(Op.CAS, "x", "9", expected="0", client="c1", request_id=1))
    apply(sm, Command(Op.SET, "x", "0"))
    # Retrying the refused CAS after x became "0" must not now succeed: same answer as before.
    assert apply(sm, Command(Op.CAS, "x", "9", expected="0", client="c1", request_id=1)) == refused
    assert sm.data == {"x": "0"}


def acquire(client: str, ttl: float, request_id: int) -> Command:
    return Command(Op.ACQUIRE, "L", client=client, request_id=request_id, ttl=ttl)


def release(client: str, token: int, request_id: int) -> Command:
    return Command(Op.RELEASE, "L", client=client, request_id=request_id, token=token)


def test_lock_acquire_refuse_renew_and_release() -> None:
    sm = KVStateMachine()
    granted = apply(sm, acquire("c1", 100, 1), time=1000)
    assert granted == Result(True, token=1, detail="expires at 1100")
    assert sm.locks == {"L": Lock("c1", 1, 1100)}
    refused = apply(sm, acquire("c2", 100, 1), time=1050)
    assert refused == Result(False, token=1, detail="held by c1 until 1100")
    renewed = apply(sm, acquire("c1", 100, 2), time=1090)
    assert renewed == Result(True, token=1, detail="renewed")  # the holder keeps its token
    assert sm.locks["L"] == Lock("c1", 1, 1190)
    assert apply(sm, release("c2", 1, 2), time=1100) == Result(False, detail="not the holder")
    assert apply(sm, release("c1", 7, 3), time=1100) == Result(False, detail="not the holder")
    assert apply(sm, release("c1", 1, 4), time=1100) == Result(True, token=1, detail="released")
    assert sm.locks == {}


def test_lock_expiry_is_judged_by_log_time_and_tokens_increase() -> None:
    sm = KVStateMachine()
    apply(sm, acquire("c1", 100, 1), time=0)
    # At exactly expires_at the lease is over (expires_at > now is required to hold it).
    taken = apply(sm, acquire("c2", 100, 1), time=100)
    assert taken == Result(True, token=2, detail="expires at 200")
    # The old holder coming back after expiry gets a new, larger token, never its old one.
    again = apply(sm, acquire("c1", 100, 2), time=250)
    assert again.ok and again.token == 3
    # A release with the stale token 1 is refused, so c1's first lease cannot free c1's new one.
    assert apply(sm, release("c1", 1, 3), time=260).ok is False
    assert sm.locks["L"] == Lock("c1", 3, 350)
    assert sm.lock_view(now=400) == {
        "L": {"holder": "c1", "token": 3, "expires_at": 350, "expired": True}
    }
    assert sm.lock_view(now=300)["L"]["expired"] is False


def test_replicas_applying_the_same_entries_agree_whatever_their_own_clock() -> None:
    entries = [
        LogEntry(1, acquire("c1", 50, 1), 10.0),
        LogEntry(1, acquire("c2", 50, 1), 70.0),
        LogEntry(2, Command(Op.SET, "x", "1", client="c2", request_id=2), 80.0),
    ]
    a, b = KVStateMachine(), KVStateMachine()
    results_a = [a.apply(e) for e in entries]
    results_b = [b.apply(e) for e in entries]
    assert results_a == results_b
    assert (a.data, a.locks, a.next_token) == (b.data, b.locks, b.next_token)
    assert results_a[1] == Result(True, token=2, detail="expires at 120")
