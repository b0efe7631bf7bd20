"""``/v1/customers/{id}/instances/{id}/features``: feature toggles of an instance.

Defaults come from the customer's plan (``plans.features``); an instance's toggle overrides
one. Readers of the instance list them; instance and customer admins set and reset them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from ..auth import Caller
from .common import AUTH_RESPONSES, WRITE_RESPONSES, Input, Service
from .customers import CustomerId
from .instances import InstanceId

router = APIRouter(
    prefix="/v1/customers/{customer_id}/instances/{instance_id}/features", tags=["features"]
)

FeatureName = Annotated[
    str, Path(pattern=r"^[a-z0-9_.-]{1,64}$", description="The feature, e.g. `rooms`.")
]


class Feature(BaseModel):
    """A feature of an instance: on or off, and who says so."""

    feature: str
    enabled: bool
    source: Literal["plan", "instance"] = Field(
        description="`plan`: the plan's default; `instance`: this instance's toggle."
    )


class FeatureSet(Input):
    enabled: bool


@router.get("", summary="An instance's features", responses=AUTH_RESPONSES)
async def list_features(
    caller: Caller, service: Service, customer_id: CustomerId, instance_id: InstanceId
) -> list[Feature]:
    caller.check_instance(customer_id, instance_id)
    views = await service.list_features(customer_id, instance_id)
    return [Feature.model_validate(v, from_attributes=True) for v in views]


@router.put("/{feature}", summary="Turn a feature on or off", responses=WRITE_RESPONSES)
async def set_feature(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    feature: FeatureName,
    body: FeatureSet,
) -> Feature:
    caller.check_instance(customer_id, instance_id, write=True)
    view = await service.set_feature(caller.actor, customer_id, instance_id, feature, body.enabled)
    return Feature.model_validate(view, from_attributes=True)


@router.delete(
    "/{feature}",
    status_code=204,
    summary="Reset a feature to the plan's default",
    responses=WRITE_RESPONSES,
)
async def reset_feature(
    caller: Caller,
    service: Service,
    customer_id: CustomerId,
    instance_id: InstanceId,
    feature: FeatureName,
) -> Response:
    caller.check_instance(customer_id, instance_id, write=True)
    await service.reset_feature(caller.actor, customer_id, instance_id, feature)
    return Response(status_code=204)
