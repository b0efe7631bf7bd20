"""``/v1/plans``: subscription tiers (price, unit prices, default quotas and features).
Everyone reads; platform admins write."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from ...tenancy.quotas import QuotaName
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
from .customers import PLAN_ID

router = APIRouter(prefix="/v1/plans", tags=["plans"])

PlanId = Annotated[str, Path(pattern=PLAN_ID, description="The plan's id, e.g. `pro`.")]
FeatureKey = Annotated[str, Field(pattern=r"^[a-z0-9_.-]{1,64}$")]
UsageKey = Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")]
Cents = Annotated[int, Field(ge=0, le=2**63 - 1)]


class Plan(BaseModel):
    """A subscription tier."""

    id: str
    name: str
    monthly_price_cents: int
    currency: str
    unit_prices: dict[str, int] = Field(description="Usage kind -> millicents per unit.")
    quotas: dict[str, int] = Field(description="Quota name -> default limit.")
    features: dict[str, bool] = Field(description="Feature -> on by default.")
    created_at: dt.datetime


class PlanCreate(Input):
    id: str = Field(pattern=PLAN_ID)
    name: str = Field(min_length=1, max_length=255)
    monthly_price_cents: Cents = 0
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    unit_prices: dict[UsageKey, Cents] = Field(default_factory=dict)
    quotas: dict[QuotaName, Cents] = Field(default_factory=dict)
    features: dict[FeatureKey, bool] = Field(default_factory=dict)


class PlanUpdate(Input):
    name: str | None = Field(None, min_length=1, max_length=255)
    monthly_price_cents: Cents | None = None
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    unit_prices: dict[UsageKey, Cents] | None = None
    quotas: dict[QuotaName, Cents] | None = None
    features: dict[FeatureKey, bool] | None = None


@router.get("", summary="List plans", responses=AUTH_RESPONSES)
async def list_plans(
    caller: Caller,
    service: Service,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "created_at",
    name: NamePrefix = None,
) -> PageOf[Plan]:
    return page_of(Plan, await service.list_plans(PageRequest(limit, cursor, sort), name=name))


@router.post("", status_code=201, summary="Create a plan", responses=WRITE_RESPONSES)
async def create_plan(caller: Caller, service: Service, body: PlanCreate) -> Plan:
    caller.require_platform()
    return Plan.model_validate(
        await service.create_plan(caller.actor, body.model_dump(mode="json"))
    )


@router.get("/{plan_id}", summary="Get a plan", responses=AUTH_RESPONSES)
async def get_plan(caller: Caller, service: Service, plan_id: PlanId) -> Plan:
    return Plan.model_validate(await service.get_plan(plan_id))


@router.patch("/{plan_id}", summary="Change a plan", responses=WRITE_RESPONSES)
async def update_plan(caller: Caller, service: Service, plan_id: PlanId, body: PlanUpdate) -> Plan:
    caller.require_platform()
    changes = body.model_dump(mode="json", exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None)
    if nulls:
        raise ApiError(422, "invalid_request", f"body.{nulls[0]}: may not be null")
    return Plan.model_validate(await service.update_plan(caller.actor, plan_id, changes))


@router.delete(
    "/{plan_id}", status_code=204, summary="Delete an unused plan", responses=WRITE_RESPONSES
)
async def delete_plan(caller: Caller, service: Service, plan_id: PlanId) -> Response:
    caller.require_platform()
    await service.delete_plan(caller.actor, plan_id)
    return Response(status_code=204)
