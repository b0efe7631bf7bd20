"""Client authentication: a JWT from HELLO becomes an :class:`Identity`, or an :class:`AuthError`.

Accepted algorithms are exactly the configured keys: HS256 when ``jwt_secret`` is set, RS256
when ``jwt_public_key`` is set. The token header picks the algorithm and the algorithm picks the
key, so an HS256 token is only ever checked against the HS256 secret: a token "signed" with the
RSA public key text as an HMAC secret (the key-confusion attack) fails, and ``alg: none`` or any
other algorithm is refused before any signature work.

Claims: ``sub`` (user), ``cus`` (customer), ``ins`` (instance), ``roles`` (list of strings,
optional), ``shard`` (u32, optional), ``exp`` and ``aud`` (required), ``iss`` (required when
``jwt_issuer`` is set), ``nbf`` and ``iat`` (checked when present, with ``jwt_leeway``).
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import HMACAlgorithm

from gb.protocol.codes import ErrorCode

from .config import ConfigError, Settings

MAX_TOKEN_CHARS = 8192
"""Longer tokens are refused unparsed (and never enter the cache)."""

CACHE_TTL = 60.0
"""Seconds a verified token is trusted without re-verification (never past its ``exp``)."""

DEFAULT_CACHE_SIZE = 10_000

_U32_MAX = (1 << 32) - 1
# Printable ASCII without space and '/': the scope "customer/instance" must split one way only,
# or two tenants could derive the same channel ids.
_TENANT_PART = re.compile(r"[\x21-\x2e\x30-\x7e]{1,128}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a connection is, from a verified token."""

    customer: str
    instance: str
    user: str
    roles: frozenset[str]
    expires_at: float
    """The token's ``exp`` (Unix seconds): the session ends then."""
    shard_key: int = 0
    """The customer's shard (the ``shard`` claim, else 0); carried in every frame header."""
    customer_id: UUID | None = None
    """``customer`` parsed as a UUID once at verification (None when it is not one)."""
    instance_id: UUID | None = None
    """``instance`` parsed as a UUID once at verification (None when it is not one)."""

    @property
    def scope(self) -> str:
        """The tenant scope ``customer/instance`` that channel ids are derived in."""
        return f"{self.customer}/{self.instance}"


class AuthError(Exception):
    """A token was refused; ``code`` is ``TOKEN_INVALID`` or ``TOKEN_EXPIRED``."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Authenticator:
    """Verifies client tokens against the configured keys, with a small cache.

    Reconnect storms present the same token many times; a verified token is kept in a bounded
    LRU cache until ``min(exp, verified_at + CACHE_TTL)``. Refused tokens are not cached. Not
    thread-safe: one instance per event loop.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys: dict[str, Any] = {}
        if settings.jwt_secret is not None:
            try:
                keys["HS256"] = HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(settings.jwt_secret)
            except jwt.InvalidKeyError as exc:
                raise ConfigError(f"GB_JWT_SECRET: not usable as an HMAC secret: {exc}") from None
        if settings.jwt_public_key is not None:
            keys["RS256"] = load_pem_public_key(settings.jwt_public_key.encode())
        if not keys:
            raise ConfigError(
                "GB_JWT_SECRET or GB_JWT_PUBLIC_KEY: one must be set to authenticate clients"
            )
        self._keys = keys
        self.algorithms: tuple[str, ...] = tuple(keys)
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._leeway = settings.jwt_leeway
        required = ["exp", "aud"] + (["iss"] if settings.jwt_issuer is not None else [])
        self._options: Any = {"require": required}
        self._cache: OrderedDict[str, tuple[Identity, float]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock
        self.verifications = 0
        """Tokens fully verified (signature checked); cache hits are not counted."""
        self.cache_hits = 0

    def verify(self, token: object) -> Identity:
        """The identity in ``token``; :class:`AuthError` when the token is refused.

        ``token`` may be anything a HELLO payload carried: non-strings are refused cleanly.
        """
        if not isinstance(token, str) or not token:
            raise AuthError(ErrorCode.TOKEN_INVALID, "token must be a non-empty string")
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError(ErrorCode.TOKEN_INVALID, f"token longer than {MAX_TOKEN_CHARS} chars")
        now = self._clock()
        # Keyed by the token itself: hashing a str is ~5x cheaper than a digest, and the cache
        # is bounded (cache_size entries), so the texts it keeps alive are bounded too.
        key = token
        cached = self._cache.get(key)
        if cached is not None:
            identity, valid_until = cached
            if now < valid_until:
                self._cache.move_to_end(key)
                self.cache_hits += 1
                return identity
            del self._cache[key]
        identity = self._verify(token)
        valid_until = min(identity.expires_at, now + CACHE_TTL)
        if valid_until > now:
            self._cache[key] = (identity, valid_until)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return identity

    def _verify(self, token: str) -> Identity:
        self.verifications += 1
        try:
            named = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError as exc:
            raise AuthError(ErrorCode.TOKEN_INVALID, f"malformed token: {exc}") from None
        alg = named if isinstance(named, str) else ""
        key = self._keys.get(alg)
        if key is None:
            accepted = ", ".join(self.algorithms)
            raise AuthError(
                ErrorCode.TOKEN_INVALID, f"algorithm {named!r} not accepted (accepted: {accepted})"
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(ErrorCode.TOKEN_EXPIRED, "token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(ErrorCode.TOKEN_INVALID, f"token refused: {exc}") from None
        return _identity(claims)


_ROLE_SETS: dict[frozenset[str], frozenset[str]] = {}
_ROLE_SETS_MAX = 4096


def _roles(roles: list[str]) -> frozenset[str]:
    """One shared frozenset per distinct role set: tokens repeat a few combinations, and a
    frozenset costs 216 bytes per connection otherwise."""
    key = frozenset(roles)
    shared = _ROLE_SETS.get(key)
    if shared is None:
        if len(_ROLE_SETS) >= _ROLE_SETS_MAX:
            return key
        shared = _ROLE_SETS[key] = key
    return shared


def _identity(claims: dict[str, Any]) -> Identity:
    user = claims.get("sub")
    if not isinstance(user, str) or not 0 < len(user) <= 256:
        raise _bad_claim("sub", "a string of 1..256 chars", user)
    customer, instance = claims.get("cus"), claims.get("ins")
    if not isinstance(customer, str) or not _TENANT_PART.fullmatch(customer):
        raise _bad_claim("cus", "1..128 printable ASCII chars without space or '/'", customer)
    if not isinstance(instance, str) or not _TENANT_PART.fullmatch(instance):
        raise _bad_claim("ins", "1..128 printable ASCII chars without space or '/'", instance)
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise _bad_claim("roles", "a list of strings", roles)
    shard = claims.get("shard", 0)
    if isinstance(shard, bool) or not isinstance(shard, int) or not 0 <= shard <= _U32_MAX:
        raise _bad_claim("shard", f"an integer in 0..{_U32_MAX}", shard)
    return Identity(
        customer=customer,
        instance=instance,
        user=user,
        roles=_roles(roles),
        expires_at=float(claims["exp"]),
        shard_key=shard,
        customer_id=_as_uuid(customer),
        instance_id=_as_uuid(instance),
    )


def _as_uuid(text: str) -> UUID | None:
    """``text`` as a UUID when it is one: tenancy-aware tokens name tenants by id."""
    if len(text) != 36:
        return None
    try:
        return UUID(text)
    except ValueError:
        return None


def _bad_claim(name: str, expected: str, got: object) -> AuthError:
    shown = "missing" if got is None else f"got {got!r:.60}"
    return AuthError(ErrorCode.TOKEN_INVALID, f"claim {name!r} must be {expected}, {shown}")


def mint_token(
    settings: Settings,
    *,
    user: str,
    customer: str,
    instance: str,
    roles: Iterable[str] = (),
    ttl: float = 3600,
    shard: int | None = None,
    key: str | bytes | RSAPrivateKey | None = None,
) -> str:
    """A token for development and tests: RS256 with the private ``key``, else HS256.

    HS256 uses ``settings.jwt_secret`` (:class:`ConfigError` when unset). The audience and issuer
    come from ``settings``; a negative ``ttl`` gives an already expired token.
    """
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": user,
        "cus": customer,
        "ins": instance,
        "roles": list(roles),
        "iat": now,
        "exp": int(now + ttl),
        "aud": settings.jwt_audience,
    }
    if settings.jwt_issuer is not None:
        claims["iss"] = settings.jwt_issuer
    if shard is not None:
        claims["shard"] = shard
    if key is not None:
        return jwt.encode(claims, key, algorithm="RS256")
    if settings.jwt_secret is None:
        raise ConfigError("GB_JWT_SECRET: must be set to mint HS256 tokens (or pass key=)")
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
