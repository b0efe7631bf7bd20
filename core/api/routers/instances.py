"""``/v1/customers/{id}/instances``: a customer's bots / workspaces (GuaribasInstance).

Customer admins create and delete them (within the ``instances`` quota); instance admins
change their own; users and bots read their own. Instance-bound callers list only theirs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import CUSTOMER_ADMIN, Caller
from ..errors import ApiError
from .common import (
    AUTH_RESPONSES,
    QUOTA_RESPONSES,
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
from .regions import REGION_ID

router = APIRouter(prefix="/v1/customers/{customer_id}/instances", tags=["instances"])

InstanceId = Annotated[UUID, Path(description="The instance's id.")]
InstanceStatus = Literal["active", "suspended", "deleted"]
INSTANCE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"


class Instance(BaseModel):
    """An instance (a bot or workspace) of a customer."""

    id: UUID
    customer_id: UUID
    name: str = Field(description="The bot id: 1..63 of `a-z 0-9 -`, unique per customer.")
    title: str | None
    description: str | None
    status: InstanceStatus
    region_id: str
    shard_id: int
    config: dict[str, Any]
    params: dict[str, Any] = Field(description="The .gbot config.csv values.")
    text_search: str = Field(
        description="PostgreSQL text-search configuration of its messages (search language)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime


class InstanceCreate(Input):
    name: str = Field(pattern=INSTANCE_NAME)
    title: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=4096)
    region_id: str | None = Field(None, pattern=REGION_ID, description="Null: the customer's.")
    config: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)


class InstanceUpdate(Input):
    title: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=4096)
    status: InstanceStatus | None = Field(None, description="Only a customer admin changes it.")
    config: dict[str, Any] | None = None
    params: dict[str, Any] | None = None
    text_search: str | None = Field(
        None,
        pattern=r"^[a-z_]{1,63}$",
        description="Search language of messages written from now on: a PostgreSQL text-search"
        " configuration (simple, english, portuguese, ...).",
    )


@router.get("", summary="List a customer's instances", responses=AUTH_RESPONSES)
async def list_instances(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "created_at",
    status: InstanceStatus | None = None,
    name: NamePrefix = None,
) -> PageOf[Instance]:
    caller.check_customer(customer_id, admin=False)
    page = await service.list_instances(
        customer_id,
        PageRequest(limit, cursor, sort),
        only=caller.bound_instance(),
        status=status,
        name=name,
    )
    return page_of(Instance, page)


@router.post("", status_code=201, summary="Create an instance", responses=QUOTA_RESPONSES)
async def create_instance(
    caller: Caller, service: Service, customer_id: CustomerId, body: InstanceCreate
) -> Instance:
    caller.check_customer(customer_id)
    row = await service.create_instance(caller.actor, customer_id, body.model_dump())
    return Instance.model_validate(row)


@router.get("/{instance_id}", summary="Get an instance", responses=AUTH_RESPONSES)
async def get_instance(
    caller: Caller, service: Service, customer_id: CustomerId, instance_id: InstanceId
) -> Instance:
    caller.check_instance(customer_id, instance_id)
    return Instance.model_validate(await service.get_instance(customer_id, instance_id))


@router.patch("/{instance_id}", summary="Change an instance", responses=WRITE_RESPONSES)
async def update_instance(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    body: InstanceUpdate,
) -> Instance:
    caller.check_instance(customer_id, instance_id, write=True)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes:
        caller.require_any(CUSTOMER_ADMIN)
    for field in ("status", "config", "params"):
        if field in changes and changes[field] is None:
            raise ApiError(422, "invalid_request", f"body.{field}: may not be null")
    row = await service.update_instance(caller.actor, customer_id, instance_id, changes)
    return Instance.model_validate(row)


@router.delete(
    "/{instance_id}",
    status_code=204,
    summary="Delete an instance and its users, groups and settings",
    responses=WRITE_RESPONSES,
)
async def delete_instance(
    caller: Caller, service: Service, customer_id: CustomerId, instance_id: InstanceId
) -> Response:
    caller.check_customer(customer_id)
    await service.delete_instance(caller.actor, customer_id, instance_id)
    return Response(status_code=204)
