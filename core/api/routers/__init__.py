"""The tenancy routers of the control plane, mounted with :func:`include_all`.

Every route is under ``/v1``, authenticates its caller (:data:`gb.core.api.auth.Caller`) and
calls :class:`gb.core.tenancy.service.TenancyService`, which the app finds on
``app.state.db`` and ``app.state.quotas`` (bearer tokens need ``app.state.authenticator``).
"""

from __future__ import annotations

from fastapi import FastAPI

from . import (
    api_keys,
    billing,
    customers,
    features,
    groups,
    instances,
    plans,
    quotas,
    regions,
    subscriptions,
    usage,
    users,
)
from .common import install_handlers

ROUTERS = (
    regions.router,
    plans.router,
    customers.router,
    subscriptions.router,
    quotas.router,
    instances.router,
    features.router,
    users.router,
    groups.router,
    api_keys.router,
    usage.router,
    billing.router,
)

TAGS = [
    {"name": "regions", "description": "Where customers and instances live."},
    {"name": "plans", "description": "Subscription tiers: prices, default quotas and features."},
    {"name": "customers", "description": "The tenants."},
    {"name": "subscriptions", "description": "Paid sign-ups of a customer to a plan."},
    {"name": "quotas", "description": "A customer's limits and their overrides."},
    {"name": "instances", "description": "A customer's bots / workspaces."},
    {"name": "features", "description": "Feature toggles per instance."},
    {"name": "users", "description": "End users of an instance."},
    {"name": "groups", "description": "Groups of users and their members."},
    {"name": "api-keys", "description": "API keys of a customer."},
    {"name": "usage", "description": "Usage roll-ups per customer, instance and period."},
    {"name": "billing", "description": "Invoices and their lines."},
]


def include_all(app: FastAPI) -> None:
    """Mount every tenancy router on ``app`` and answer their errors in the error shape."""
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.openapi_tags = [*(app.openapi_tags or []), *TAGS]
