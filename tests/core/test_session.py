import base64

from gb.core.auth import Identity
from gb.core.session import ResumeTokens, new_session_id

ALICE = Identity("c1", "i1", "alice", frozenset(), 2e9)
BOB = Identity("c1", "i1", "bob", frozenset(), 2e9)
OTHER_TENANT = Identity("c2", "i1", "alice", frozenset(), 2e9)


def test_token_round_trip_for_the_same_user():
    tokens = ResumeTokens(b"k")
    token = tokens.issue("s1", ALICE)
    assert tokens.session_id(token, ALICE) == "s1"


def test_token_refused_for_another_user_tenant_or_key():
    token = ResumeTokens(b"k").issue("s1", ALICE)
    assert ResumeTokens(b"k").session_id(token, BOB) is None
    assert ResumeTokens(b"k").session_id(token, OTHER_TENANT) is None
    assert ResumeTokens(b"other").session_id(token, ALICE) is None


def test_garbage_tokens_are_refused():
    tokens = ResumeTokens(b"k")
    good = tokens.issue("s1", ALICE)
    tampered = good[:-2] + ("A" if good[-2] != "A" else "B") + good[-1]
    for bad in (None, 12, "", "!!!", "a", tampered, "x" * 2000):
        assert tokens.session_id(bad, ALICE) is None


def test_well_signed_token_with_wrong_shape_is_refused():
    import hashlib
    import hmac

    tokens = ResumeTokens(b"k")
    body = b"only-two\x00parts"
    mac = hmac.new(tokens._key, body, hashlib.sha256).digest()[:16]
    token = base64.urlsafe_b64encode(mac + body).decode()
    assert tokens.session_id(token, ALICE) is None


def test_session_ids_are_unique():
    assert len({new_session_id() for _ in range(1000)}) == 1000


def test_registry_indexes_by_session_and_user():
    from gb.core.registry import Registry
    from gb.core.session import Session

    class FakeConn:  # the registry reads only ``session``; identity-hashed like a Conn
        def __init__(self, session: Session | None) -> None:
            self.session = session

    def conn(sid: str, user: str) -> FakeConn:
        identity = ALICE if user == "alice" else BOB
        return FakeConn(Session(sid, identity, 1, "", False))

    reg = Registry()
    a1, a2, b1 = conn("s1", "alice"), conn("s2", "alice"), conn("s3", "bob")
    for c in (a1, a2, b1):
        assert reg.add(c) is None
    assert len(reg) == 3 and set(map(id, reg)) == {id(a1), id(a2), id(b1)}
    assert reg.session("s2") is a2 and reg.session("nope") is None
    assert reg.user("c1/i1", "alice") == frozenset({a1, a2})
    again = conn("s1", "alice")  # the same session resumed on a new connection
    assert reg.add(again) is a1
    reg.remove(a1)  # no longer registered: ignored
    reg.remove(FakeConn(None))
    reg.remove(a2)
    reg.remove(again)
    assert reg.user("c1/i1", "alice") == frozenset()
    assert len(reg) == 1
