"""``/v1/customers/{id}/subscriptions``: paid sign-ups (the original's GBOnlineSubscription).

Customer admins sign up (``pending_payment``) and cancel; platform admins (the payment flow)
also activate and set the payment fields.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
from ..errors import ApiError
from .common import AUTH_RESPONSES, WRITE_RESPONSES, Cursor, Input, Limit, PageOf, Service, page_of
from .customers import PLAN_ID, CustomerId

router = APIRouter(prefix="/v1/customers/{customer_id}/subscriptions", tags=["subscriptions"])

SubscriptionId = Annotated[UUID, Path(description="The subscription's id.")]
SubscriptionStatus = Literal["pending_payment", "active", "cancelled"]

PLATFORM_FIELDS = frozenset(
    {
        "payment_url",
        "payment_token",
        "stripe_session_id",
        "stripe_payment_intent_id",
        "last_cc_four_digits",
    }
)
"""Fields only the payment flow (a platform admin) sets."""


class Subscription(BaseModel):
    """A subscription of a customer to a plan (optionally for one bot)."""

    id: UUID
    customer_id: UUID
    instance_id: UUID | None
    plan_id: str
    status: SubscriptionStatus
    customer_name: str | None
    customer_email: str | None
    customer_mobile: str | None
    bot_name: str | None
    payment_amount_cents: int | None
    payment_url: str | None
    stripe_session_id: str | None
    stripe_payment_intent_id: str | None
    last_cc_four_digits: str | None
    created_at: dt.datetime
    activated_at: dt.datetime | None
    cancelled_at: dt.datetime | None


class _Payment(Input):
    payment_url: str | None = Field(None, max_length=2048)
    payment_token: str | None = Field(None, max_length=1024)
    stripe_session_id: str | None = Field(None, max_length=255)
    stripe_payment_intent_id: str | None = Field(None, max_length=255)
    last_cc_four_digits: str | None = Field(None, pattern=r"^[0-9]{4}$")


class SubscriptionCreate(_Payment):
    plan_id: str = Field(pattern=PLAN_ID)
    instance_id: UUID | None = None
    status: SubscriptionStatus = Field(
        "pending_payment", description="Only a platform admin may create one already active."
    )
    customer_name: str | None = Field(None, max_length=255)
    customer_email: str | None = Field(None, max_length=255)
    customer_mobile: str | None = Field(None, max_length=64)
    bot_name: str | None = Field(None, max_length=255)
    payment_amount_cents: int | None = Field(None, ge=0)


class SubscriptionUpdate(_Payment):
    status: SubscriptionStatus | None = Field(None, description="A customer admin may only cancel.")
    customer_name: str | None = Field(None, max_length=255)
    customer_email: str | None = Field(None, max_length=255)
    customer_mobile: str | None = Field(None, max_length=64)


def _check_fields(caller: Caller, fields: dict[str, object], allowed_status: str) -> None:
    """A customer admin may not set payment fields, nor any status but ``allowed_status``."""
    if caller.is_platform:
        return
    refused = sorted(k for k in fields if k in PLATFORM_FIELDS)
    if refused:
        raise ApiError(403, "forbidden", f"{refused[0]}: only a platform admin may set it")
    status = fields.get("status")
    if status not in (None, allowed_status):
        raise ApiError(403, "forbidden", f"status: only a platform admin may set {status}")


@router.get("", summary="List a customer's subscriptions", responses=AUTH_RESPONSES)
async def list_subscriptions(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at"] = "-created_at",
    status: SubscriptionStatus | None = None,
) -> PageOf[Subscription]:
    caller.check_customer(customer_id)
    page = await service.list_subscriptions(
        customer_id, PageRequest(limit, cursor, sort), status=status
    )
    return page_of(Subscription, page)


@router.post("", status_code=201, summary="Subscribe to a plan", responses=WRITE_RESPONSES)
async def create_subscription(
    caller: Caller, service: Service, customer_id: CustomerId, body: SubscriptionCreate
) -> Subscription:
    caller.check_customer(customer_id)
    fields = body.model_dump(exclude_unset=True)
    fields.setdefault("plan_id", body.plan_id)
    _check_fields(caller, fields, "pending_payment")
    row = await service.create_subscription(caller.actor, customer_id, fields)
    return Subscription.model_validate(row)


@router.get("/{subscription_id}", summary="Get a subscription", responses=AUTH_RESPONSES)
async def get_subscription(
    caller: Caller, service: Service, customer_id: CustomerId, subscription_id: SubscriptionId
) -> Subscription:
    caller.check_customer(customer_id)
    row = await service.get_subscription(customer_id, subscription_id)
    return Subscription.model_validate(row)


@router.patch("/{subscription_id}", summary="Change a subscription", responses=WRITE_RESPONSES)
async def update_subscription(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    subscription_id: SubscriptionId,
    body: SubscriptionUpdate,
) -> Subscription:
    caller.check_customer(customer_id)
    changes = body.model_dump(exclude_unset=True)
    if "status" in changes and changes["status"] is None:
        raise ApiError(422, "invalid_request", "body.status: may not be null")
    _check_fields(caller, changes, "cancelled")
    row = await service.update_subscription(caller.actor, customer_id, subscription_id, changes)
    return Subscription.model_validate(row)
