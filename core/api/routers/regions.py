"""``/v1/regions``: where customers and instances live. Everyone reads; platform admins write."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

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

router = APIRouter(prefix="/v1/regions", tags=["regions"])

REGION_ID = r"^[a-z0-9-]{2,32}$"
RegionId = Annotated[str, Path(pattern=REGION_ID, description="The region's id, e.g. `local`.")]


class Region(BaseModel):
    """A region."""

    id: str
    name: str
    created_at: dt.datetime


class RegionCreate(Input):
    id: str = Field(pattern=REGION_ID, description="2..32 of `a-z 0-9 -`.")
    name: str = Field(min_length=1, max_length=255)


class RegionUpdate(Input):
    name: str = Field(min_length=1, max_length=255)


@router.get("", summary="List regions", responses=AUTH_RESPONSES)
async def list_regions(
    caller: Caller,
    service: Service,
    limit: Limit = 50,
    cursor: Cursor = None,
    sort: Literal["created_at", "-created_at", "name", "-name"] = "name",
    name: NamePrefix = None,
) -> PageOf[Region]:
    page = await service.list_regions(PageRequest(limit, cursor, sort), name=name)
    return page_of(Region, page)


@router.post("", status_code=201, summary="Create a region", responses=WRITE_RESPONSES)
async def create_region(caller: Caller, service: Service, body: RegionCreate) -> Region:
    caller.require_platform()
    return Region.model_validate(await service.create_region(caller.actor, body.id, body.name))


@router.get("/{region_id}", summary="Get a region", responses=AUTH_RESPONSES)
async def get_region(caller: Caller, service: Service, region_id: RegionId) -> Region:
    return Region.model_validate(await service.get_region(region_id))


@router.patch("/{region_id}", summary="Rename a region", responses=WRITE_RESPONSES)
async def update_region(
    caller: Caller, service: Service, region_id: RegionId, body: RegionUpdate
) -> Region:
    caller.require_platform()
    return Region.model_validate(await service.update_region(caller.actor, region_id, body.name))


@router.delete(
    "/{region_id}", status_code=204, summary="Delete an unused region", responses=WRITE_RESPONSES
)
async def delete_region(caller: Caller, service: Service, region_id: RegionId) -> Response:
    caller.require_platform()
    await service.delete_region(caller.actor, region_id)
    return Response(status_code=204)
