"""Usage read-outs: roll-ups per day or month, per customer or per instance.

``GET /v1/customers/{id}/usage`` (customer admins): customer-wide totals, or per instance
with ``by=instance``; ``GET /v1/customers/{id}/instances/{id}/usage`` (also the instance's
admins): one instance. Filters: ``period``, ``start`` (inclusive) and ``end`` (exclusive)
dates of the period starts, ``kind``. Served from a replica when one is configured.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
from .common import AUTH_RESPONSES, Cursor, Limit, PageOf, Service, page_of
from .customers import CustomerId
from .instances import InstanceId

router = APIRouter(prefix="/v1/customers/{customer_id}", tags=["usage"])

Period = Literal["day", "month"]
UsageKind = Literal["message", "connection_minute", "media_minute", "bot_run", "storage_byte_day"]
UsageSort = Literal["period_start", "-period_start"]
Start = Annotated[dt.date | None, Query(description="First period start (inclusive).")]
End = Annotated[dt.date | None, Query(description="Last period start (exclusive).")]


class Usage(BaseModel):
    """Usage of one kind in one period."""

    instance_id: UUID | None = Field(description="Null: the whole customer.")
    kind: str
    period: Period
    period_start: dt.date
    quantity: int
    updated_at: dt.datetime


@router.get("/usage", summary="A customer's usage", responses=AUTH_RESPONSES)
async def customer_usage(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UsageSort = "period_start",
    period: Period = "month",
    by: Annotated[
        Literal["customer", "instance"], Query(description="Totals, or one row per instance.")
    ] = "customer",
    kind: UsageKind | None = None,
    start: Start = None,
    end: End = None,
) -> PageOf[Usage]:
    caller.check_customer(customer_id)
    page = await service.usage(
        customer_id,
        PageRequest(limit, cursor, sort),
        period=period,
        per_instance=by == "instance",
        kind=kind,
        start=start,
        end=end,
    )
    return page_of(Usage, page)


@router.get(
    "/instances/{instance_id}/usage", summary="An instance's usage", responses=AUTH_RESPONSES
)
async def instance_usage(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: UsageSort = "period_start",
    period: Period = "month",
    kind: UsageKind | None = None,
    start: Start = None,
    end: End = None,
) -> PageOf[Usage]:
    caller.check_instance(customer_id, instance_id, write=True)
    page = await service.usage(
        customer_id,
        PageRequest(limit, cursor, sort),
        period=period,
        instance_id=instance_id,
        kind=kind,
        start=start,
        end=end,
    )
    return page_of(Usage, page)
