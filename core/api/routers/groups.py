"""``/v1/customers/{id}/instances/{id}/groups``: groups of an instance's users and their
members (GuaribasGroup, GuaribasUserGroup); also the groups of one user."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from ...tenancy.service import PageRequest
from ..auth import Caller
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
from .instances import InstanceId
from .users import Member, UserId

PREFIX = "/v1/customers/{customer_id}/instances/{instance_id}"
router = APIRouter(prefix=PREFIX, tags=["groups"])

GroupId = Annotated[UUID, Path(description="The group's id.")]
NamedSort = Literal["created_at", "-created_at", "name", "-name"]


class Group(BaseModel):
    """A group of users of an instance."""

    id: UUID
    instance_id: UUID
    display_name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupFields(Input):
    display_name: str = Field(min_length=1, max_length=512)


class Membership(BaseModel):
    """A user's membership of a group."""

    group_id: UUID
    user_id: UUID
    added: bool = Field(description="False when the user already was a member.")


@router.get("/groups", summary="List an instance's groups", responses=AUTH_RESPONSES)
async def list_groups(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NamedSort = "created_at",
    name: NamePrefix = None,
) -> PageOf[Group]:
    caller.check_instance(customer_id, instance_id)
    request = PageRequest(limit, cursor, sort)
    return page_of(Group, await service.list_groups(customer_id, instance_id, request, name=name))


@router.post("/groups", status_code=201, summary="Create a group", responses=WRITE_RESPONSES)
async def create_group(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    body: GroupFields,
) -> Group:
    caller.check_instance(customer_id, instance_id, write=True)
    row = await service.create_group(caller.actor, customer_id, instance_id, body.display_name)
    return Group.model_validate(row)


@router.get("/groups/{group_id}", summary="Get a group", responses=AUTH_RESPONSES)
async def get_group(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
) -> Group:
    caller.check_instance(customer_id, instance_id)
    return Group.model_validate(await service.get_group(customer_id, instance_id, group_id))


@router.patch("/groups/{group_id}", summary="Rename a group", responses=WRITE_RESPONSES)
async def update_group(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
    body: GroupFields,
) -> Group:
    caller.check_instance(customer_id, instance_id, write=True)
    row = await service.update_group(
        caller.actor, customer_id, instance_id, group_id, body.display_name
    )
    return Group.model_validate(row)


@router.delete(
    "/groups/{group_id}", status_code=204, summary="Delete a group", responses=WRITE_RESPONSES
)
async def delete_group(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
) -> Response:
    caller.check_instance(customer_id, instance_id, write=True)
    await service.delete_group(caller.actor, customer_id, instance_id, group_id)
    return Response(status_code=204)


@router.get(
    "/groups/{group_id}/members", summary="List a group's members", responses=AUTH_RESPONSES
)
async def list_members(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NamedSort = "created_at",
) -> PageOf[Member]:
    caller.check_instance(customer_id, instance_id)
    request = PageRequest(limit, cursor, sort)
    page = await service.list_members(customer_id, instance_id, group_id, request)
    return page_of(Member, page)


@router.put(
    "/groups/{group_id}/members/{user_id}",
    summary="Add a user to a group (idempotent)",
    responses=WRITE_RESPONSES,
)
async def add_member(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
    user_id: UserId,
) -> Membership:
    caller.check_instance(customer_id, instance_id, write=True)
    added = await service.add_member(caller.actor, customer_id, instance_id, group_id, user_id)
    return Membership(group_id=group_id, user_id=user_id, added=added)


@router.delete(
    "/groups/{group_id}/members/{user_id}",
    status_code=204,
    summary="Remove a user from a group",
    responses=WRITE_RESPONSES,
)
async def remove_member(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    group_id: GroupId,
    user_id: UserId,
) -> Response:
    caller.check_instance(customer_id, instance_id, write=True)
    await service.remove_member(caller.actor, customer_id, instance_id, group_id, user_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/groups", summary="List a user's groups", responses=AUTH_RESPONSES)
async def list_user_groups(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    user_id: UserId,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: NamedSort = "created_at",
) -> PageOf[Group]:
    caller.check_instance(customer_id, instance_id)
    request = PageRequest(limit, cursor, sort)
    page = await service.list_user_groups(customer_id, instance_id, user_id, request)
    return page_of(Group, page)
