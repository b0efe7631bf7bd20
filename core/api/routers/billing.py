"""``/v1/customers/{id}/invoices``: billing periods priced from usage, with their lines.

Customer admins (and platform admins) read them; invoices are made by the billing run
(:func:`gb.core.tenancy.billing.invoice`), not through the API.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
from .common import AUTH_RESPONSES, Cursor, Limit, PageOf, Service, page_of
from .customers import CustomerId

router = APIRouter(prefix="/v1/customers/{customer_id}/invoices", tags=["billing"])

InvoiceId = Annotated[UUID, Path(description="The invoice's id.")]
InvoiceStatus = Literal["draft", "issued", "paid", "void"]


class Invoice(BaseModel):
    """An invoice of one billing period."""

    id: UUID
    customer_id: UUID
    period_start: dt.date
    period_end: dt.date = Field(description="Exclusive.")
    plan_id: str
    currency: str
    total_cents: int
    status: InvoiceStatus
    created_at: dt.datetime


class InvoiceLine(BaseModel):
    """A priced line: the subscription, or one usage kind (of one instance)."""

    id: UUID
    instance_id: UUID | None
    kind: str
    quantity: float
    unit_price_mcents: int = Field(description="Millicents per unit.")
    amount_cents: int


class InvoiceWithLines(Invoice):
    lines: list[InvoiceLine]


@router.get("", summary="List a customer's invoices", responses=AUTH_RESPONSES)
async def list_invoices(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["period_start", "-period_start", "created_at", "-created_at"] = "-period_start",
    status: InvoiceStatus | None = None,
    start: Annotated[dt.date | None, Query(description="Periods starting on or after.")] = None,
    end: Annotated[dt.date | None, Query(description="Periods starting before.")] = None,
) -> PageOf[Invoice]:
    caller.check_customer(customer_id)
    page = await service.list_invoices(
        customer_id, PageRequest(limit, cursor, sort), status=status, start=start, end=end
    )
    return page_of(Invoice, page)


@router.get("/{invoice_id}", summary="Get an invoice with its lines", responses=AUTH_RESPONSES)
async def get_invoice(
    caller: Caller, service: Service, customer_id: CustomerId, invoice_id: InvoiceId
) -> InvoiceWithLines:
    caller.check_customer(customer_id)
    return InvoiceWithLines.model_validate(await service.get_invoice(customer_id, invoice_id))
