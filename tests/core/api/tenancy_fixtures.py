"""The control-plane app over a real migrated PostgreSQL database, and callers of every role.

Test modules import ``api`` (and ``control_db``, which it needs) and list them in ``__all__``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from gb import __version__
from gb.core.api import create_app
from gb.core.api.routers import include_all
from gb.core.auth import Authenticator, mint_token
from gb.core.config import Settings, load_settings
from gb.core.metrics import Metrics
from gb.core.storage.database import Database
from gb.core.tenancy.counters import MemoryCounters
from gb.core.tenancy.quotas import Quotas
from tests.support.pg import control_db

__all__ = ["Env", "api", "control_db"]

SECRET = "test-secret-0123456789abcdef-0123456789"


@dataclass
class StaticNode:
    node_id: str = "node-a"
    version: str = __version__
    draining: bool = False
    started_at: float = field(default_factory=time.time)
    connection_count: int = 0
    channel_count: int = 0

    async def readiness(self) -> dict[str, bool]:
        return {}


def build_app(settings: Settings) -> FastAPI:
    app = create_app(StaticNode(), Metrics(process=False))
    include_all(app)
    app.state.authenticator = Authenticator(settings)
    return app


@dataclass
class Env:
    """The app, its database and helpers to call it as any role."""

    app: FastAPI
    client: httpx.AsyncClient
    db: Database
    quotas: Quotas
    settings: Settings
    dsn: str

    def headers(
        self,
        roles: Iterable[str],
        customer: object = "platform",
        instance: object = "*",
        user: str = "u1",
        ttl: float = 3600,
    ) -> dict[str, str]:
        token = mint_token(
            self.settings,
            user=user,
            customer=str(customer),
            instance=str(instance),
            roles=list(roles),
            ttl=ttl,
        )
        return {"Authorization": f"Bearer {token}"}

    @property
    def platform(self) -> dict[str, str]:
        return self.headers(["platform_admin"], user="root")

    def admin(self, customer: object) -> dict[str, str]:
        return self.headers(["customer_admin"], customer, user="admin")

    def bound(self, role: str, customer: object, instance: object) -> dict[str, str]:
        return self.headers([role], customer, instance, user=role)

    async def customer(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new customer (on the ``pro`` plan unless ``plan_id`` says otherwise)."""
        fields.setdefault("plan_id", "pro")
        r = await self.client.post(
            "/v1/customers", json={"name": name, **fields}, headers=self.platform
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def instance(self, customer_id: object, name: str, **fields: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"/v1/customers/{customer_id}/instances",
            json={"name": name, **fields},
            headers=self.platform,
        )
        assert r.status_code == 201, r.text
        body: dict[str, Any] = r.json()
        return body

    async def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """Run ``query`` as the superuser (test set-up and checks, no row-level security)."""
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    async def audit(self, customer_id: object) -> list[str]:
        rows = await self.sql(
            "SELECT action FROM audit_log WHERE customer_id = $1 ORDER BY created_at",
            UUID(str(customer_id)),
        )
        return [r["action"] for r in rows]


@asynccontextmanager
async def open_env(dsn: str) -> AsyncIterator[Env]:
    """The app over the control database ``dsn`` (the caller owns the database)."""
    settings = load_settings({"GB_JWT_SECRET": SECRET})
    db = await Database.open(dsn, pool_size=4)
    quotas = Quotas(db, MemoryCounters())
    app = build_app(settings)
    app.state.db = db
    app.state.quotas = quotas
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gb.test") as client:
            yield Env(app, client, db, quotas, settings, dsn)
    finally:
        await db.close()


@pytest.fixture
async def api(control_db: str) -> AsyncIterator[Env]:
    async with open_env(control_db) as env:
        yield env
