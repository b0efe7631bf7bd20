"""What the tenancy routers share: the service dependency, paging parameters, page and error
models, and the handlers that turn service errors into the API's error shape."""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar, cast

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ...storage.database import ShardUnavailable, UnknownCustomer
from ...tenancy.quotas import QuotaExceeded
from ...tenancy.service import Page, ServiceError, TenancyService
from ..errors import ErrorBody, error_response

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_LIMIT = 200


class Input(BaseModel):
    """A request body: unknown fields are refused (422 naming them), not ignored."""

    model_config = ConfigDict(extra="forbid")


class PageOf(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next page."""

    items: list[T]
    next_cursor: str | None = Field(description="Cursor of the next page; null on the last one.")


class QuotaErrorDetail(BaseModel):
    code: str = Field(description="`QUOTA_EXCEEDED`.")
    message: str
    quota: str = Field(description="The quota's name, e.g. `instances`.")
    limit: int = Field(description="The quota's limit for this customer.")


class QuotaErrorBody(BaseModel):
    """The body of a refusal over quota (403 for sizes, 429 for rates)."""

    error: QuotaErrorDetail


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("Missing or refused credentials; the message says which"),
    403: _error("The caller's role may not do this"),
    404: _error("Unknown id, or another tenant's"),
    422: _error("Invalid request; the message names the field"),
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES,
    409: _error("Duplicate, or still in use; the message names the field"),
}
QUOTA_RESPONSES: dict[int | str, dict[str, Any]] = {
    **WRITE_RESPONSES,
    403: {"model": QuotaErrorBody, "description": "Role refused, or over a size quota"},
    429: {"model": QuotaErrorBody, "description": "Over a rate quota"},
}


def service_of(request: Request) -> TenancyService:
    """The tenancy service over ``app.state.db`` and ``app.state.quotas``."""
    state = request.app.state
    service = cast(TenancyService | None, getattr(state, "tenancy", None))
    db, quotas = getattr(state, "db", None), getattr(state, "quotas", None)
    if db is None or quotas is None:
        raise ServiceUnavailableError("the control plane has no database configured")
    if service is None or service.db is not db or service.quotas is not quotas:
        service = state.tenancy = TenancyService(db, quotas)
    return service


Service = Annotated[TenancyService, Depends(service_of)]


class ServiceUnavailableError(ServiceError):
    """The database is not there (not configured, or a shard unreachable)."""

    status = 503
    code = "unavailable"


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Rows per page, 1..{MAX_LIMIT}.")]
Cursor = Annotated[
    str | None, Query(max_length=1024, description="`next_cursor` of the previous page.")
]
NamePrefix = Annotated[str | None, Query(max_length=255, description="Prefix of the name.")]


def page_of(model: type[M], page: Page) -> PageOf[M]:
    """The :class:`PageOf` ``model`` of a service page."""
    items = [model.model_validate(i) for i in page.items]
    return PageOf(items=items, next_cursor=page.next_cursor)


def install_handlers(app: FastAPI) -> None:
    """Answer the service's refusals in the API's error shape."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(QuotaExceeded, _quota_error)
    app.add_exception_handler(UnknownCustomer, _unknown_customer)
    app.add_exception_handler(ShardUnavailable, _shard_unavailable)


async def _service_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, exc.code, exc.message)


async def _quota_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, QuotaExceeded)
    detail = QuotaErrorDetail(
        code="QUOTA_EXCEEDED", message=str(exc), quota=exc.quota.value, limit=exc.limit
    )
    return JSONResponse(QuotaErrorBody(error=detail).model_dump(), status_code=exc.http_status)


async def _unknown_customer(request: Request, exc: Exception) -> JSONResponse:
    customer = exc.args[0] if exc.args else "?"
    return error_response(404, "not_found", f"customer {customer} not found")


async def _shard_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return error_response(503, "unavailable", str(exc))
