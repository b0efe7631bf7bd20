"""``/v1/customers/{id}/quotas``: a customer's limits. Customer admins read them; platform
admins override a plan's default per customer (and remove the override)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from ...tenancy.quotas import QuotaName
from ..auth import Caller
from .common import AUTH_RESPONSES, WRITE_RESPONSES, Input, Service
from .customers import CustomerId

router = APIRouter(prefix="/v1/customers/{customer_id}/quotas", tags=["quotas"])

QuotaPath = Annotated[QuotaName, Path(description="The quota's name.")]


class Quota(BaseModel):
    """A quota of a customer."""

    name: QuotaName
    limit: int | None = Field(description="The limit in force; null: unlimited.")
    plan_default: int | None = Field(
        description="The plan's default (or the customer's `max_instances`); null: none."
    )
    override: int | None = Field(description="This customer's override; null: none.")


class QuotaSet(Input):
    value: int = Field(ge=0, le=2**63 - 1, description="The new limit.")


@router.get("", summary="A customer's quotas", responses=AUTH_RESPONSES)
async def get_quotas(caller: Caller, service: Service, customer_id: CustomerId) -> list[Quota]:
    caller.check_customer(customer_id)
    views = await service.get_quotas(customer_id)
    return [Quota.model_validate(v, from_attributes=True) for v in views]


@router.put("/{name}", summary="Override a quota for this customer", responses=WRITE_RESPONSES)
async def set_quota(
    caller: Caller, service: Service, customer_id: CustomerId, name: QuotaPath, body: QuotaSet
) -> Quota:
    caller.require_platform_for(customer_id)
    await service.set_quota(caller.actor, customer_id, name, body.value)
    views = await service.get_quotas(customer_id)
    return next(Quota.model_validate(v, from_attributes=True) for v in views if v.name == name)


@router.delete(
    "/{name}", status_code=204, summary="Remove a quota override", responses=WRITE_RESPONSES
)
async def delete_quota(
    caller: Caller, service: Service, customer_id: CustomerId, name: QuotaPath
) -> Response:
    caller.require_platform_for(customer_id)
    await service.delete_quota(caller.actor, customer_id, name)
    return Response(status_code=204)
