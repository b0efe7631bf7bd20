"""Who calls the REST control plane, and what they may touch.

A caller shows either ``Authorization: Bearer <JWT>`` (verified by the node's
:class:`~gb.core.auth.Authenticator`, found on ``app.state.authenticator``; the ``cus`` claim is
the customer's UUID, ``ins`` the instance's) or ``X-API-Key: gbk_...`` (looked up by its SHA-256
in ``api_keys``; a revoked key is refused). Handlers take ``caller: Caller``.

Roles: ``platform_admin`` (everything), ``customer_admin`` (their own customer), and for one
instance (the token's ``ins``) ``instance_admin`` (read and write), ``user`` and ``bot`` (read).
No credentials or bad ones: 401 naming what is wrong; a role that may not do the action: 403;
anything of another tenant, or another instance for instance-bound roles: 404, as if it did not
exist, so a caller learns nothing about other tenants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, cast
from uuid import UUID

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from ..auth import Authenticator, AuthError
from ..tenancy.service import API_KEY_PREFIX, hash_api_key
from .errors import ApiError

PLATFORM_ADMIN = "platform_admin"
CUSTOMER_ADMIN = "customer_admin"
INSTANCE_ADMIN = "instance_admin"
USER = "user"
BOT = "bot"
ROLES = (PLATFORM_ADMIN, CUSTOMER_ADMIN, INSTANCE_ADMIN, USER, BOT)

INSTANCE_READERS = frozenset({INSTANCE_ADMIN, USER, BOT})
"""Instance-bound roles that may read their instance."""
INSTANCE_WRITERS = frozenset({INSTANCE_ADMIN})
"""Instance-bound roles that may change their instance (customer admins always may)."""

# auto_error=False: the dependency below words the 401 itself (which credential, what is wrong).
_bearer = HTTPBearer(auto_error=False, description="A JWT signed with the node's key.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key `gbk_...` of a customer."
)


# One round trip; last_used_at is written at most once a minute per key, so busy keys do not
# turn every read into a row update.
_KEY_LOOKUP = """
WITH k AS (
    SELECT id, customer_id, instance_id, roles, revoked_at, last_used_at
    FROM api_keys WHERE key_hash = $1
), touched AS (
    UPDATE api_keys SET last_used_at = now()
    WHERE id = (SELECT id FROM k) AND revoked_at IS NULL
      AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT id, customer_id, instance_id, roles, revoked_at FROM k
"""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    actor: str
    """Who, for the audit log: ``user:<sub>`` or ``key:<api key id>``."""
    customer_id: UUID | None
    """The caller's customer (None only for a platform admin whose token names none)."""
    instance: str | None
    """The instance the caller is bound to (the token's ``ins`` or the key's instance)."""
    roles: frozenset[str]

    @property
    def is_platform(self) -> bool:
        return PLATFORM_ADMIN in self.roles

    def require_platform(self) -> None:
        """403 unless a platform admin."""
        if not self.is_platform:
            raise _forbidden(PLATFORM_ADMIN)

    def require_platform_for(self, customer_id: UUID) -> None:
        """403 unless a platform admin, but 404 first for another tenant's customer."""
        if self.is_platform:
            return
        if customer_id != self.customer_id:
            raise not_found("customer", customer_id)
        raise _forbidden(PLATFORM_ADMIN)

    def check_customer(self, customer_id: UUID, *, admin: bool = True) -> None:
        """Allow access to ``customer_id`` as a whole: 404 for another tenant; with ``admin``,
        403 unless a customer admin; else any role of the customer may read."""
        if self.is_platform:
            return
        if customer_id != self.customer_id:
            raise not_found("customer", customer_id)
        if admin and CUSTOMER_ADMIN not in self.roles:
            raise _forbidden(CUSTOMER_ADMIN)

    def check_instance(self, customer_id: UUID, instance_id: UUID, *, write: bool = False) -> None:
        """Allow access to one instance: platform and customer admins always; instance-bound
        roles only to their own instance (another one is 404), and to write only as
        ``instance_admin`` (403)."""
        if self.is_platform:
            return
        if customer_id != self.customer_id:
            raise not_found("customer", customer_id)
        if CUSTOMER_ADMIN in self.roles:
            return
        if self.instance != str(instance_id):
            raise not_found("instance", instance_id)
        allowed = INSTANCE_WRITERS if write else INSTANCE_READERS
        if not allowed & self.roles:
            raise _forbidden(*sorted(allowed | {CUSTOMER_ADMIN}))

    def bound_instance(self) -> str | None:
        """The only instance this caller may list, or None when it may see all of its
        customer's instances (platform and customer admins)."""
        if self.is_platform or CUSTOMER_ADMIN in self.roles:
            return None
        return self.instance or ""

    def require_any(self, *roles: str) -> None:
        """403 unless the caller holds one of ``roles`` (or is a platform admin)."""
        if not self.is_platform and not self.roles.intersection(roles):
            raise _forbidden(*roles)


def not_found(kind: str, ident: object) -> ApiError:
    """The 404 of an unknown id, and of another tenant's id alike."""
    return ApiError(404, "not_found", f"{kind} {ident} not found")


def _forbidden(*roles: str) -> ApiError:
    return ApiError(403, "forbidden", "requires role " + " or ".join(roles))


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": "Bearer"})


async def caller(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller of ``request``, from its bearer token or API key; 401 when neither is good."""
    header = request.headers.get("authorization")
    if header is not None and bearer is None:
        raise _unauthorized("Authorization: expected 'Bearer <token>'")
    if bearer is not None and api_key is not None:
        raise _unauthorized("send one credential: Authorization or X-API-Key, not both")
    if bearer is not None:
        return _from_token(request, bearer.credentials)
    if api_key is not None:
        return await _from_api_key(request, api_key)
    raise _unauthorized("missing credentials: send Authorization: Bearer <token> or X-API-Key")


def _from_token(request: Request, token: str) -> Principal:
    authenticator = cast(Authenticator | None, getattr(request.app.state, "authenticator", None))
    if authenticator is None:
        raise _unauthorized("bearer tokens are not accepted here (no authenticator configured)")
    try:
        identity = authenticator.verify(token)
    except AuthError as exc:
        raise _unauthorized(f"bearer token refused: {exc.message}") from None
    customer = identity.customer_id  # parsed once, when the token was verified
    if customer is None and PLATFORM_ADMIN not in identity.roles:
        raise _unauthorized("bearer token refused: claim 'cus' is not a customer id")
    return Principal(
        actor=f"user:{identity.user}",
        customer_id=customer,
        instance=identity.instance,
        roles=identity.roles,
    )


async def _from_api_key(request: Request, key: str) -> Principal:
    if not key.startswith(API_KEY_PREFIX) or len(key) > 256:
        raise _unauthorized(f"X-API-Key: malformed key (expected {API_KEY_PREFIX}...)")
    db: Any = getattr(request.app.state, "db", None)
    if db is None:
        raise ApiError(503, "unavailable", "API keys need the database, and none is configured")
    # As gb_platform: the key is what tells us the tenant, so no tenant can be set yet.
    async with db.platform() as conn:
        row = await conn.fetchrow(_KEY_LOOKUP, hash_api_key(key))
    if row is None:
        raise _unauthorized("X-API-Key: unknown key")
    if row["revoked_at"] is not None:
        raise _unauthorized("X-API-Key: key revoked")
    instance = row["instance_id"]
    return Principal(
        actor=f"key:{row['id']}",
        customer_id=row["customer_id"],
        instance=None if instance is None else str(instance),
        roles=frozenset(row["roles"]),
    )


Caller = Annotated[Principal, Depends(caller)]
"""The authenticated caller of a request (401 when there is none)."""
