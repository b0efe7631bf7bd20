"""``/v1/customers``: the tenants. Platform admins create, change and delete them; a customer's
own callers read their customer, and its customer admins rename it and edit its metadata."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
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
from .regions import REGION_ID

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerId = Annotated[UUID, Path(description="The customer's id.")]
CustomerStatus = Literal["active", "suspended", "closed"]
PLAN_ID = r"^[a-z0-9-]{2,32}$"

CUSTOMER_ADMIN_FIELDS = frozenset({"name", "metadata"})
"""What a customer admin may change of their customer (the rest is the platform's)."""


class Customer(BaseModel):
    """A customer (tenant)."""

    id: UUID
    name: str
    status: CustomerStatus
    plan_id: str
    region_id: str
    max_instances: int | None = Field(description="Null: the plan's `instances` quota.")
    metadata: dict[str, Any]
    shard_id: int | None = Field(description="The shard holding the customer's rows.")
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerCreate(Input):
    name: str = Field(min_length=1, max_length=255)
    plan_id: str = Field("free", pattern=PLAN_ID)
    region_id: str = Field("local", pattern=REGION_ID)
    status: CustomerStatus = "active"
    max_instances: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, Any] = Field(default_factory=dict)
    shard_id: int | None = Field(None, ge=0, description="Null: the least loaded active shard.")


class CustomerUpdate(Input):
    name: str | None = Field(None, min_length=1, max_length=255)
    plan_id: str | None = Field(None, pattern=PLAN_ID)
    region_id: str | None = Field(None, pattern=REGION_ID)
    status: CustomerStatus | None = None
    max_instances: int | None = Field(None, ge=0, le=2**31 - 1)
    metadata: dict[str, Any] | None = None


@router.get(
    "", summary="List customers (a tenant caller sees only its own)", responses=AUTH_RESPONSES
)
async def list_customers(
    caller: Caller,
    service: Service,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "created_at",
    status: CustomerStatus | None = None,
    name: NamePrefix = None,
    plan_id: Annotated[str | None, Query(pattern=PLAN_ID)] = None,
    region_id: Annotated[str | None, Query(pattern=REGION_ID)] = None,
) -> PageOf[Customer]:
    page = await service.list_customers(
        PageRequest(limit, cursor, sort),
        only=None if caller.is_platform else caller.customer_id,
        status=status,
        name=name,
        plan_id=plan_id,
        region_id=region_id,
    )
    return page_of(Customer, page)


@router.post("", status_code=201, summary="Create a customer", responses=WRITE_RESPONSES)
async def create_customer(caller: Caller, service: Service, body: CustomerCreate) -> Customer:
    caller.require_platform()
    return Customer.model_validate(await service.create_customer(caller.actor, body.model_dump()))


@router.get("/{customer_id}", summary="Get a customer", responses=AUTH_RESPONSES)
async def get_customer(caller: Caller, service: Service, customer_id: CustomerId) -> Customer:
    caller.check_customer(customer_id, admin=False)
    return Customer.model_validate(await service.get_customer(customer_id))


@router.patch("/{customer_id}", summary="Change a customer", responses=WRITE_RESPONSES)
async def update_customer(
    caller: Caller, service: Service, customer_id: CustomerId, body: CustomerUpdate
) -> Customer:
    caller.check_customer(customer_id)
    changes = body.model_dump(exclude_unset=True)
    if not caller.is_platform:
        refused = sorted(set(changes) - CUSTOMER_ADMIN_FIELDS)
        if refused:
            raise ApiError(403, "forbidden", f"{refused[0]}: only a platform admin may change it")
    for field in ("name", "plan_id", "region_id", "status", "metadata"):
        if field in changes and changes[field] is None:
            raise ApiError(422, "invalid_request", f"body.{field}: may not be null")
    return Customer.model_validate(
        await service.update_customer(caller.actor, customer_id, changes)
    )


@router.delete(
    "/{customer_id}",
    status_code=204,
    summary="Delete a customer and its instances",
    responses=WRITE_RESPONSES,
)
async def delete_customer(caller: Caller, service: Service, customer_id: CustomerId) -> Response:
    caller.require_platform_for(customer_id)
    await service.delete_customer(caller.actor, customer_id)
    return Response(status_code=204)
