"""``/v1/customers/{id}/api-keys``: API keys of a customer, managed by its customer admins.

The key itself is returned once, at creation; only its SHA-256 is stored and lists show its
first characters (``prefix``). A key acts with the roles it was given (a customer admin cannot
give ``platform_admin``), bound to one instance when ``instance_id`` is set. Revoking is at
once: the next request with the key is refused (401).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import PLATFORM_ADMIN, ROLES, Caller
from ..errors import ApiError
from .common import (
    AUTH_RESPONSES,
    WRITE_RESPONSES,
    Cursor,
    Input,
    Limit,
    NamePrefix,
    PageOf,
    Service,
    page_of,
)
from .customers import CustomerId

router = APIRouter(prefix="/v1/customers/{customer_id}/api-keys", tags=["api-keys"])

ApiKeyId = Annotated[UUID, Path(description="The key's id.")]
Role = Literal["platform_admin", "customer_admin", "instance_admin", "user", "bot"]
assert set(get_args(Role)) == set(ROLES)


class ApiKey(BaseModel):
    """An API key, without the key."""

    id: UUID
    customer_id: UUID
    instance_id: UUID | None
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    roles: list[str]
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class NewApiKey(ApiKey):
    """A new API key with the key itself: shown this once, store it now."""

    key: str = Field(description="Send as `X-API-Key`. Not retrievable later.")


class ApiKeyCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    roles: list[Role] = Field(min_length=1, max_length=len(ROLES))
    instance_id: UUID | None = Field(None, description="Bind the key to one instance.")


@router.get("", summary="List a customer's API keys", responses=AUTH_RESPONSES)
async def list_api_keys(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "created_at",
    status: Annotated[Literal["active", "revoked"] | None, Query()] = None,
    name: NamePrefix = None,
) -> PageOf[ApiKey]:
    caller.check_customer(customer_id)
    revoked = None if status is None else status == "revoked"
    page = await service.list_api_keys(
        customer_id, PageRequest(limit, cursor, sort), revoked=revoked, name=name
    )
    return page_of(ApiKey, page)


@router.post("", status_code=201, summary="Create an API key", responses=WRITE_RESPONSES)
async def create_api_key(
    caller: Caller, service: Service, customer_id: CustomerId, body: ApiKeyCreate
) -> NewApiKey:
    caller.check_customer(customer_id)
    if PLATFORM_ADMIN in body.roles and not caller.is_platform:
        raise ApiError(403, "forbidden", "roles: only a platform admin may grant platform_admin")
    roles = sorted(set(body.roles))
    row, key = await service.create_api_key(
        caller.actor, customer_id, body.name, roles, body.instance_id
    )
    return NewApiKey.model_validate({**row, "key": key})


@router.get("/{key_id}", summary="Get an API key (without the key)", responses=AUTH_RESPONSES)
async def get_api_key(
    caller: Caller, service: Service, customer_id: CustomerId, key_id: ApiKeyId
) -> ApiKey:
    caller.check_customer(customer_id)
    return ApiKey.model_validate(await service.get_api_key(customer_id, key_id))


@router.delete("/{key_id}", summary="Revoke an API key", responses=WRITE_RESPONSES)
async def revoke_api_key(
    caller: Caller, service: Service, customer_id: CustomerId, key_id: ApiKeyId
) -> ApiKey:
    caller.check_customer(customer_id)
    return ApiKey.model_validate(await service.revoke_api_key(caller.actor, customer_id, key_id))
