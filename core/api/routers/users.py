"""``/v1/customers/{id}/instances/{id}/users``: an instance's end users (GuaribasUser).

Readers of the instance list and read them; instance and customer admins write them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
from ..errors import ApiError
from .common import AUTH_RESPONSES, WRITE_RESPONSES, Cursor, Input, Limit, PageOf, Service, page_of
from .customers import CustomerId
from .instances import InstanceId

router = APIRouter(
    prefix="/v1/customers/{customer_id}/instances/{instance_id}/users", tags=["users"]
)

UserId = Annotated[UUID, Path(description="The user's id.")]
AgentMode = Literal["self", "human", "bot"]
LOCALE = r"^[a-z]{2}(-[A-Z]{2})?$"


class User(BaseModel):
    """An end user of an instance: a person on a channel."""

    id: UUID
    instance_id: UUID
    user_system_id: str = Field(description="The channel identity: phone, e-mail, web id.")
    user_name: str | None
    display_name: str | None
    email: str | None
    default_channel: str | None
    locale: str | None
    agent_mode: AgentMode | None
    params: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class _UserFields(Input):
    user_name: str | None = Field(None, max_length=255)
    display_name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=255)
    default_channel: str | None = Field(None, max_length=64)
    locale: str | None = Field(None, pattern=LOCALE)
    agent_mode: AgentMode | None = None


class UserCreate(_UserFields):
    user_system_id: str = Field(min_length=1, max_length=255)
    params: dict[str, Any] = Field(default_factory=dict)


class UserUpdate(_UserFields):
    params: dict[str, Any] | None = None


class Member(User):
    """A user in a group."""

    joined_at: dt.datetime


@router.get("", summary="List an instance's users", responses=AUTH_RESPONSES)
async def list_users(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "created_at",
    name: Annotated[
        str | None, Query(max_length=255, description="Prefix of `user_system_id`.")
    ] = None,
    email: Annotated[str | None, Query(max_length=255)] = None,
) -> PageOf[User]:
    caller.check_instance(customer_id, instance_id)
    page = await service.list_users(
        customer_id, instance_id, PageRequest(limit, cursor, sort), name=name, email=email
    )
    return page_of(User, page)


@router.post("", status_code=201, summary="Create a user", responses=WRITE_RESPONSES)
async def create_user(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    body: UserCreate,
) -> User:
    caller.check_instance(customer_id, instance_id, write=True)
    fields = body.model_dump(exclude_unset=True)
    row = await service.create_user(caller.actor, customer_id, instance_id, fields)
    return User.model_validate(row)


@router.get("/{user_id}", summary="Get a user", responses=AUTH_RESPONSES)
async def get_user(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    user_id: UserId,
) -> User:
    caller.check_instance(customer_id, instance_id)
    return User.model_validate(await service.get_user(customer_id, instance_id, user_id))


@router.patch("/{user_id}", summary="Change a user", responses=WRITE_RESPONSES)
async def update_user(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    user_id: UserId,
    body: UserUpdate,
) -> User:
    caller.check_instance(customer_id, instance_id, write=True)
    changes = body.model_dump(exclude_unset=True)
    if "params" in changes and changes["params"] is None:
        raise ApiError(422, "invalid_request", "body.params: may not be null")
    row = await service.update_user(caller.actor, customer_id, instance_id, user_id, changes)
    return User.model_validate(row)


@router.delete("/{user_id}", status_code=204, summary="Delete a user", responses=WRITE_RESPONSES)
async def delete_user(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    user_id: UserId,
) -> Response:
    caller.check_instance(customer_id, instance_id, write=True)
    await service.delete_user(caller.actor, customer_id, instance_id, user_id)
    return Response(status_code=204)
