"""Authenticator: real HS256/RS256 tokens, refused algorithms, claim checks and the cache."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gb.core.auth import (
    CACHE_TTL,
    MAX_TOKEN_CHARS,
    Authenticator,
    AuthError,
    Identity,
    mint_token,
)
from gb.core.config import ConfigError, Settings
from gb.protocol.codes import ErrorCode

SECRET = "x" * 40


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def hs() -> Settings:
    return Settings(jwt_secret=SECRET)


@pytest.fixture
def rs(rsa_key: rsa.RSAPrivateKey) -> Settings:
    return Settings(jwt_public_key=_public_pem(rsa_key))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _handmade(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A JWT built by hand, for tokens pyjwt refuses to produce (alg none, key confusion)."""
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    sig = b"" if hmac_key is None else hmac.new(hmac_key, head.encode(), hashlib.sha256).digest()
    return head + "." + _b64(sig)


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "ana",
        "cus": "acme",
        "ins": "main",
        "roles": ["agent"],
        "iat": now,
        "exp": now + 600,
        "aud": "gb",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _hs_token(**over: Any) -> str:
    return jwt.encode(_claims(**over), SECRET, algorithm="HS256")


def _refused(auth: Authenticator, token: object, code: ErrorCode = ErrorCode.TOKEN_INVALID) -> str:
    with pytest.raises(AuthError) as info:
        auth.verify(token)
    assert info.value.code == code
    assert str(info.value) == info.value.message
    return info.value.message


def test_hs256_round_trip(hs: Settings) -> None:
    token = mint_token(hs, user="ana", customer="acme", instance="main", roles=["agent", "admin"])
    identity = Authenticator(hs).verify(token)
    assert identity.user == "ana"
    assert (identity.customer, identity.instance, identity.scope) == ("acme", "main", "acme/main")
    assert identity.roles == frozenset({"agent", "admin"})
    assert identity.shard_key == 0
    assert time.time() + 3590 < identity.expires_at <= time.time() + 3600
    with pytest.raises(AttributeError):
        identity.user = "eve"  # type: ignore[misc]


def test_shard_claim_becomes_shard_key(hs: Settings) -> None:
    token = mint_token(hs, user="u", customer="c", instance="i", shard=42, roles=())
    identity = Authenticator(hs).verify(token)
    assert identity.shard_key == 42 and identity.roles == frozenset()


def test_rs256_round_trip(rs: Settings, rsa_key: rsa.RSAPrivateKey) -> None:
    auth = Authenticator(rs)
    assert auth.algorithms == ("RS256",)
    token = mint_token(rs, user="bo", customer="c", instance="i", key=rsa_key)
    assert auth.verify(token).user == "bo"
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert auth.verify(mint_token(rs, user="cy", customer="c", instance="i", key=pem)).user == "cy"


def test_both_algorithms_when_both_keys_are_set(rsa_key: rsa.RSAPrivateKey) -> None:
    settings = Settings(jwt_secret=SECRET, jwt_public_key=_public_pem(rsa_key))
    auth = Authenticator(settings)
    assert auth.algorithms == ("HS256", "RS256")
    assert auth.verify(mint_token(settings, user="a", customer="c", instance="i")).user == "a"
    rs_token = mint_token(settings, user="b", customer="c", instance="i", key=rsa_key)
    assert auth.verify(rs_token).user == "b"


def test_rs256_signed_by_another_key_is_refused(
    rs: Settings, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    token = mint_token(rs, user="u", customer="c", instance="i", key=other_rsa_key)
    assert "Signature verification failed" in _refused(Authenticator(rs), token)


def test_alg_none_is_refused(hs: Settings) -> None:
    token = _handmade({"alg": "none", "typ": "JWT"}, _claims(), None)
    message = _refused(Authenticator(hs), token)
    assert message == "algorithm 'none' not accepted (accepted: HS256)"


def test_unconfigured_algorithms_are_refused(hs: Settings, rs: Settings) -> None:
    hs512 = jwt.encode(_claims(), SECRET * 2, algorithm="HS512")
    assert "algorithm 'HS512' not accepted" in _refused(Authenticator(hs), hs512)
    # An HS256 token where only RS256 is configured never reaches a signature check.
    assert "algorithm 'HS256' not accepted (accepted: RS256)" in _refused(
        Authenticator(rs), _hs_token()
    )
    odd = _handmade({"alg": 5}, _claims(), SECRET.encode())
    assert "algorithm 5 not accepted" in _refused(Authenticator(hs), odd)


def test_key_confusion_is_refused(rsa_key: rsa.RSAPrivateKey) -> None:
    """An attacker signs HS256 with the public key text as the HMAC secret."""
    pem = _public_pem(rsa_key)
    forged = _handmade({"alg": "HS256", "typ": "JWT"}, _claims(), pem.encode())
    only_rsa = Authenticator(Settings(jwt_public_key=pem))
    assert "not accepted" in _refused(only_rsa, forged)
    both = Authenticator(Settings(jwt_public_key=pem, jwt_secret=SECRET))
    assert "Signature verification failed" in _refused(both, forged)


def test_expired_token(hs: Settings) -> None:
    token = mint_token(hs, user="u", customer="c", instance="i", ttl=-60)
    assert _refused(Authenticator(hs), token, ErrorCode.TOKEN_EXPIRED) == "token expired"


def test_leeway_accepts_a_just_expired_token_but_does_not_cache_it(hs: Settings) -> None:
    auth = Authenticator(hs)  # leeway 5 s
    token = mint_token(hs, user="u", customer="c", instance="i", ttl=-2)
    assert auth.verify(token).user == "u"
    auth.verify(token)
    assert (auth.verifications, auth.cache_hits) == (2, 0)


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"aud": "other"}, "Audience doesn't match"),
        ({"aud": None}, 'Token is missing the "aud" claim'),
        ({"exp": None}, 'Token is missing the "exp" claim'),
        ({"exp": "soon"}, "Expiration Time claim (exp) must be"),
        ({"nbf": int(time.time()) + 3600}, "The token is not yet valid (nbf)"),
        ({"iat": int(time.time()) + 3600}, "The token is not yet valid (iat)"),
        ({"iat": "yesterday"}, "Issued At claim (iat) must be"),
        ({"sub": None}, "claim 'sub' must be a string of 1..256 chars, missing"),
        ({"sub": ""}, "claim 'sub' must be a string of 1..256 chars, got ''"),
        ({"sub": 7}, "Subject must be a string"),  # pyjwt's own check
        ({"cus": None}, "claim 'cus' must be 1..128 printable ASCII chars"),
        ({"cus": "a/b"}, "claim 'cus' must be 1..128 printable ASCII chars without space or '/'"),
        ({"cus": 12}, "claim 'cus' must be"),
        ({"ins": None}, "claim 'ins' must be"),
        ({"ins": "x y"}, "claim 'ins' must be"),
        ({"ins": "é"}, "claim 'ins' must be"),
        ({"roles": "admin"}, "claim 'roles' must be a list of strings, got 'admin'"),
        ({"roles": ["a", 1]}, "claim 'roles' must be a list of strings"),
        ({"shard": True}, "claim 'shard' must be an integer in 0..4294967295, got True"),
        ({"shard": -1}, "claim 'shard' must be an integer"),
        ({"shard": 1 << 32}, "claim 'shard' must be an integer"),
        ({"shard": "3"}, "claim 'shard' must be an integer"),
    ],
)
def test_bad_claims_are_refused(hs: Settings, over: dict[str, Any], fragment: str) -> None:
    assert fragment in _refused(Authenticator(hs), _hs_token(**over))


def test_roles_are_optional(hs: Settings) -> None:
    claims = _claims()
    del claims["roles"]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    assert Authenticator(hs).verify(token).roles == frozenset()


def test_issuer_when_configured() -> None:
    settings = Settings(jwt_secret=SECRET, jwt_issuer="https://id.example")
    auth = Authenticator(settings)
    good = mint_token(settings, user="u", customer="c", instance="i")
    assert jwt.decode(good, options={"verify_signature": False})["iss"] == "https://id.example"
    assert auth.verify(good).user == "u"
    assert "Invalid issuer" in _refused(auth, _hs_token(iss="https://evil.example"))
    assert 'missing the "iss" claim' in _refused(auth, _hs_token())


def test_audience_from_settings() -> None:
    settings = Settings(jwt_secret=SECRET, jwt_audience="chat")
    auth = Authenticator(settings)
    assert auth.verify(mint_token(settings, user="u", customer="c", instance="i")).user == "u"
    assert "Audience doesn't match" in _refused(auth, _hs_token())  # aud "gb"


@pytest.mark.parametrize("token", [None, 5, b"abc", "", ["a"]])
def test_non_string_tokens_are_refused(hs: Settings, token: object) -> None:
    assert _refused(Authenticator(hs), token) == "token must be a non-empty string"


def test_malformed_and_oversized_tokens(hs: Settings) -> None:
    auth = Authenticator(hs)
    assert _refused(auth, "not-a-jwt").startswith("malformed token:")
    assert _refused(auth, "a" * (MAX_TOKEN_CHARS + 1)) == "token longer than 8192 chars"
    assert auth.verifications == 1  # the oversized one was refused before parsing
    token = _hs_token()
    # Change a character in the middle of the signature: the last base64 character carries
    # padding bits, so changing it may leave the signature bytes as they were.
    cut = len(token) - 10
    tampered = token[:cut] + ("A" if token[cut] != "A" else "B") + token[cut + 1 :]
    assert "Signature verification failed" in _refused(auth, tampered)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_cache_serves_repeats_until_the_ttl(hs: Settings) -> None:
    clock = Clock()
    auth = Authenticator(hs, clock=clock)
    token = _hs_token()
    first = auth.verify(token)
    assert auth.verify(token) is first
    assert (auth.verifications, auth.cache_hits) == (1, 1)
    clock.now += CACHE_TTL + 1
    assert auth.verify(token) == first
    assert (auth.verifications, auth.cache_hits) == (2, 1)


def test_cache_entry_ends_at_the_token_expiry(hs: Settings) -> None:
    clock = Clock()
    auth = Authenticator(hs, clock=clock)
    token = _hs_token(exp=int(clock.now) + 30)  # expires before the cache TTL
    auth.verify(token)
    clock.now += 31
    auth.verify(token)  # real time has not passed, so pyjwt still accepts it; but it re-verified
    assert (auth.verifications, auth.cache_hits) == (2, 0)


def test_cache_is_a_bounded_lru(hs: Settings) -> None:
    auth = Authenticator(hs, cache_size=2)
    a, b, c = (_hs_token(sub=name) for name in "abc")
    auth.verify(a)
    auth.verify(b)
    auth.verify(a)  # a is now the most recent; b is the eldest
    auth.verify(c)  # evicts b
    assert (auth.verifications, auth.cache_hits) == (3, 1)
    auth.verify(a)
    assert auth.cache_hits == 2
    auth.verify(b)
    assert auth.verifications == 4


def test_refused_tokens_are_not_cached(hs: Settings) -> None:
    auth = Authenticator(hs)
    bad = _hs_token(aud="other")
    _refused(auth, bad)
    _refused(auth, bad)
    assert (auth.verifications, auth.cache_hits) == (2, 0)


def test_construction_needs_a_key(rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match="GB_JWT_SECRET or GB_JWT_PUBLIC_KEY"):
        Authenticator(Settings())
    # A PEM key as the HMAC secret is the key-confusion setup itself: refused at start.
    with pytest.raises(ConfigError, match="GB_JWT_SECRET: not usable as an HMAC secret"):
        Authenticator(Settings(jwt_secret=_public_pem(rsa_key)))


def test_mint_token_needs_a_secret_or_key() -> None:
    with pytest.raises(ConfigError, match="GB_JWT_SECRET: must be set to mint HS256 tokens"):
        mint_token(Settings(), user="u", customer="c", instance="i")


def test_identity_scope_and_defaults() -> None:
    identity = Identity("c", "i", "u", frozenset({"r"}), 1.0)
    assert identity.scope == "c/i" and identity.shard_key == 0


def test_role_sets_are_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from gb.core import auth

    first = auth._roles(["a", "b"])
    assert auth._roles(["b", "a"]) is first
    monkeypatch.setattr(auth, "_ROLE_SETS", {})
    monkeypatch.setattr(auth, "_ROLE_SETS_MAX", 1)
    kept = auth._roles(["x"])
    assert auth._roles(["x"]) is kept
    assert auth._roles(["y"]) == frozenset({"y"}) and len(auth._ROLE_SETS) == 1


def test_tenant_ids_are_parsed_once_when_they_are_uuids() -> None:
    from gb.core.auth import _as_uuid

    text = "8f0e6c1a-3c7b-4b1e-9a55-2a9d2f0e6c1a"
    assert str(_as_uuid(text)) == text
    assert _as_uuid("x" * 36) is None  # the right length, not a UUID
    assert _as_uuid("main") is None
