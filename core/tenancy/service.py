"""Control-plane logic: create, list, read, change and delete the tenancy resources.

Routers authorise the caller and call :class:`TenancyService`; the service runs SQL through
:class:`~gb.core.storage.database.Database`: tenant data in a transaction of the tenant
(``db.tenant`` on the customer's shard, ``db.control_tenant`` for its control rows), so
row-level security keeps every query inside one customer even if a filter were forgotten;
platform-wide data (regions, plans, the customer list) as ``gb_platform``. Every write appends
its ``audit_log`` row in the same transaction.

Lists are keyset-paginated: a page is ordered by the sort key and the row id, and its
``next_cursor`` (opaque, bound to the sort) resumes after the page's last row, so pages stay
stable while rows are added and cost the same at any depth.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from ..storage.database import Database
from .quotas import QuotaName, Quotas

NIL = UUID(int=0)
"""The customer of platform-wide audit rows, and the instance of customer-wide usage roll-ups."""

API_KEY_PREFIX = "gbk_"
_KEY_PREFIX_CHARS = 12  # "gbk_" and 8 characters: enough to recognise a key in a list


# --- errors -----------------------------------------------------------------------------------


class ServiceError(Exception):
    """A request the service refuses; ``status``/``code`` map to the API's error shape."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(ServiceError):
    """An unknown id (or one of another tenant: row-level security hides it alike)."""

    status = 404
    code = "not_found"


class ConflictError(ServiceError):
    """A duplicate (unique violation) or a row still in use; the message names the field."""

    status = 409
    code = "conflict"


class InvalidError(ServiceError):
    """A value the database refuses; the message starts with the field's name."""

    status = 422
    code = "invalid_request"


_KEY_DETAIL = re.compile(r"Key \((?P<cols>[^)]*)\)=\((?P<vals>.*)\)")
_TENANT_COLUMNS = ("customer_id", "instance_id")
_CONSTRAINT_SUFFIXES = ("_fkey", "_key", "_check", "_pkey")


def _field(exc: asyncpg.IntegrityConstraintViolationError) -> tuple[str, str]:
    """The field a violated constraint is about (tenant columns left out), and its value.

    From the ``Key (a, b)=(x, y)`` detail when PostgreSQL gives one, else from the constraint's
    name (``<table>_<columns>_<kind>``): under row-level security the detail is withheld.
    """
    match = _KEY_DETAIL.search(exc.detail or "")
    if match is not None:
        cols = [c.strip() for c in match["cols"].split(",")]
        named = [c for c in cols if c not in _TENANT_COLUMNS] or cols
        return ", ".join(named), f" {match['vals']}"
    name = (exc.constraint_name or "").removeprefix(f"{exc.table_name}_")
    for suffix in _CONSTRAINT_SUFFIXES:
        name = name.removesuffix(suffix)
    for column in _TENANT_COLUMNS:
        name = name.removeprefix(f"{column}_")
    return name or "value", ""


@contextmanager
def constraint_errors() -> Iterator[None]:
    """Turn constraint violations of the statements inside into 409/422 naming the field."""
    try:
        yield
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(f"{_field(exc)[0]}: already exists") from None
    except asyncpg.ForeignKeyViolationError as exc:
        if "still referenced" in (exc.detail or ""):
            raise ConflictError(f"{exc.table_name}: still in use; remove those first") from None
        field, value = _field(exc)
        raise InvalidError(f"{field}:{value} does not exist") from None
    except asyncpg.CheckViolationError as exc:
        raise InvalidError(f"{_field(exc)[0]}: value not allowed") from None


# --- JSON columns -----------------------------------------------------------------------------


def _jsonb(value: object) -> str:
    """A parameter for a ``$n::jsonb`` placeholder."""
    return orjson.dumps(value).decode()


def _row(record: asyncpg.Record, *json_columns: str) -> dict[str, Any]:
    """A record as a dict, JSON columns decoded (the pools keep asyncpg's text codec)."""
    row = dict(record)
    for column in json_columns:
        value = row.get(column)
        if isinstance(value, str):
            row[column] = orjson.loads(value)
    return row


# --- pagination -------------------------------------------------------------------------------

# A sort key's columns: (SQL expression, key in the row, kind) — the last one is unique.
SortColumns = tuple[tuple[str, str, str], ...]

_CREATED: SortColumns = (("created_at", "created_at", "ts"), ("id", "id", "uuid"))


def _by(column: str, kind: str = "text", *, id_kind: str = "uuid") -> SortColumns:
    return ((column, column, kind), ("id", "id", id_kind))


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Which page: at most ``limit`` rows after ``cursor``, ordered by ``sort`` (``-`` first:
    descending)."""

    limit: int = 50
    cursor: str | None = None
    sort: str = "created_at"


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one page, and the cursor of the next (None on the last page)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


def _encode_value(value: object) -> str:
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    return str(value)


def _decode_value(text: object, kind: str) -> object:
    if not isinstance(text, str):
        raise ValueError("not text")
    if kind == "ts":
        return dt.datetime.fromisoformat(text)
    if kind == "date":
        return dt.date.fromisoformat(text)
    if kind == "uuid":
        return UUID(text)
    return text


def encode_cursor(sort: str, values: Sequence[object]) -> str:
    """The opaque cursor after a row whose sort columns hold ``values``."""
    payload = orjson.dumps([sort, [_encode_value(v) for v in values]])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, columns: SortColumns) -> list[object]:
    """The sort values a cursor resumes after; :class:`InvalidError` naming ``cursor`` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, values = orjson.loads(raw)
        if len(values) != len(columns):
            raise ValueError("wrong length")
        decoded = [_decode_value(v, kind) for v, (_, _, kind) in zip(values, columns, strict=True)]
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidError("cursor: malformed; pass back the next_cursor of a page") from None
    if made_for != sort:
        raise InvalidError(f"cursor: made for sort={made_for}, not sort={sort}")
    return decoded


class Select:
    """A ``SELECT`` with filters added one by one, run as one keyset page."""

    def __init__(self, head: str) -> None:
        self.head = head
        self.where: list[str] = []
        self.args: list[object] = []

    def param(self, value: object) -> str:
        """A placeholder bound to ``value``."""
        self.args.append(value)
        return f"${len(self.args)}"

    def filter(self, clause: str, value: object) -> None:
        """Add ``clause`` (``{}`` marks the value's placeholder) unless ``value`` is None."""
        if value is not None:
            self.where.append(clause.format(self.param(value)))

    async def page(
        self, conn: asyncpg.Connection, request: PageRequest, sorts: Mapping[str, SortColumns]
    ) -> Page:
        """One page ordered as ``request.sort`` asks (one of ``sorts``, optionally ``-``)."""
        descending = request.sort.startswith("-")
        columns = sorts.get(request.sort.removeprefix("-"))
        if columns is None:
            options = ", ".join(f"{k}, -{k}" for k in sorts)
            raise InvalidError(f"sort: must be one of {options}")
        if request.cursor is not None:
            values = decode_cursor(request.cursor, request.sort, columns)
            keys = ", ".join(expr for expr, _, _ in columns)
            marks = ", ".join(self.param(v) for v in values)
            self.where.append(f"({keys}) {'<' if descending else '>'} ({marks})")
        direction = "DESC" if descending else "ASC"
        order = ", ".join(f"{expr} {direction}" for expr, _, _ in columns)
        where = f" WHERE {' AND '.join(self.where)}" if self.where else ""
        sql = f"{self.head}{where} ORDER BY {order} LIMIT {request.limit + 1}"
        rows = await conn.fetch(sql, *self.args)
        items = [dict(r) for r in rows[: request.limit]]
        cursor = None
        if len(rows) > request.limit:
            last = items[-1]
            cursor = encode_cursor(request.sort, [last[key] for _, key, _ in columns])
        return Page(items, cursor)


def _decoded(page: Page, *json_columns: str) -> Page:
    for item in page.items:
        for column in json_columns:
            if isinstance(item.get(column), str):
                item[column] = orjson.loads(item[column])
    return page


# --- audit ------------------------------------------------------------------------------------


async def audit(
    conn: asyncpg.Connection,
    customer_id: UUID,
    actor: str,
    action: str,
    target: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append who did what to which resource, inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO audit_log (customer_id, actor, action, target, details)"
        " VALUES ($1, $2, $3, $4, $5::jsonb)",
        customer_id,
        actor,
        action,
        target,
        orjson.dumps(details or {}, default=str).decode(),
    )


def _assignments(
    changes: Mapping[str, object], select: Select, json_columns: frozenset[str] = frozenset()
) -> str:
    """``col = $n, ...`` for an UPDATE (column names come from the routers' models)."""
    parts = []
    for column, value in changes.items():
        if column in json_columns:
            parts.append(f"{column} = {select.param(_jsonb(value))}::jsonb")
        else:
            parts.append(f"{column} = {select.param(value)}")
    return ", ".join(parts)


async def _update(
    conn: asyncpg.Connection,
    table: str,
    key: Mapping[str, object],
    changes: Mapping[str, object],
    json_columns: frozenset[str] = frozenset(),
    *,
    touch: bool = True,
) -> bool:
    """UPDATE one row of ``table`` matching ``key``; False when there is none."""
    select = Select("")
    sets = _assignments(changes, select, json_columns)
    if touch:
        sets = f"{sets}, updated_at = now()" if sets else "updated_at = now()"
    elif not sets:
        sets = ", ".join(f"{k} = {k}" for k in key)
    where = " AND ".join(f"{k} = {select.param(v)}" for k, v in key.items())
    with constraint_errors():
        done = await conn.fetchval(
            f"UPDATE {table} SET {sets} WHERE {where} RETURNING true", *select.args
        )
    return bool(done)


# --- queries that run inside a tenant's transaction -------------------------------------------
# They filter by id only on purpose where the transaction's tenant is what scopes them: row-level
# security answers for the customer (tests call them under another tenant to prove it).

CUSTOMER_SELECT = (
    "SELECT id, name, status, plan_id, region_id, max_instances, metadata, created_at,"
    " updated_at, (SELECT m.shard_id FROM shard_map m WHERE m.customer_id = customers.id)"
    " AS shard_id FROM customers"
)
INSTANCE_SELECT = (
    "SELECT id, customer_id, name, title, description, status, region_id, shard_id, config,"
    " params, text_search, created_at, updated_at FROM instances"
)
USER_COLUMNS = (
    "id, instance_id, user_system_id, user_name, display_name, email, default_channel, locale,"
    " agent_mode, params, created_at, updated_at"
)
GROUP_SELECT = "SELECT id, instance_id, display_name, created_at, updated_at FROM groups"
SUBSCRIPTION_SELECT = (
    "SELECT id, customer_id, instance_id, plan_id, status, customer_name, customer_email,"
    " customer_mobile, bot_name, payment_amount_cents, payment_url, stripe_session_id,"
    " stripe_payment_intent_id, last_cc_four_digits, created_at, activated_at, cancelled_at"
    " FROM subscriptions"
)
API_KEY_SELECT = (
    "SELECT id, customer_id, instance_id, name, prefix, roles, created_at, last_used_at,"
    " revoked_at FROM api_keys"
)
INVOICE_SELECT = (
    "SELECT id, customer_id, period_start, period_end, plan_id, currency, total_cents, status,"
    " created_at FROM invoices"
)
REGION_SELECT = "SELECT id, name, created_at FROM regions"
PLAN_SELECT = (
    "SELECT id, name, monthly_price_cents, currency, unit_prices, quotas, features, created_at"
    " FROM plans"
)
USAGE_SELECT = (
    "SELECT instance_id, kind, period, period_start, quantity, updated_at FROM usage_rollups"
)


async def fetch_customer(conn: asyncpg.Connection, customer_id: UUID) -> dict[str, Any] | None:
    """The customer row, if the transaction may see it."""
    record = await conn.fetchrow(f"{CUSTOMER_SELECT} WHERE id = $1", customer_id)
    return None if record is None else _row(record, "metadata")


async def fetch_instance(conn: asyncpg.Connection, instance_id: UUID) -> dict[str, Any] | None:
    """The instance row, if the transaction's tenant owns it."""
    record = await conn.fetchrow(f"{INSTANCE_SELECT} WHERE id = $1", instance_id)
    return None if record is None else _row(record, "config", "params")


async def count_instances(conn: asyncpg.Connection) -> int:
    """Live instances of the transaction's tenant (no tenant filter: RLS scopes it)."""
    count: int = await conn.fetchval("SELECT count(*) FROM instances WHERE status <> 'deleted'")
    return count


async def _require_customer(conn: asyncpg.Connection, customer_id: UUID) -> None:
    if not await conn.fetchval("SELECT true FROM customers WHERE id = $1", customer_id):
        raise NotFoundError(f"customer {customer_id} not found")


async def _require_instance(conn: asyncpg.Connection, instance_id: UUID) -> None:
    if not await conn.fetchval("SELECT true FROM instances WHERE id = $1", instance_id):
        raise NotFoundError(f"instance {instance_id} not found")


async def _require_in_instance(
    conn: asyncpg.Connection, table: str, kind: str, instance_id: UUID, row_id: UUID
) -> None:
    found = await conn.fetchval(
        f"SELECT true FROM {table} WHERE id = $1 AND instance_id = $2", row_id, instance_id
    )
    if not found:
        raise NotFoundError(f"{kind} {row_id} not found")


def _prefix(select: Select, column: str, prefix: str | None) -> None:
    select.filter(f"starts_with({column}, {{}})", prefix)


_NAMED = {"created_at": _CREATED, "name": _by("name")}
# Regions and plans have text ids.
_NAMED_TEXT_ID = {
    "created_at": _by("created_at", "ts", id_kind="text"),
    "name": _by("name", id_kind="text"),
}
_INSTANCE_JSON = frozenset({"config", "params"})
_USER_JSON = frozenset({"params"})


@dataclass(frozen=True, slots=True)
class QuotaView:
    """One quota of a customer: the plan's default, the override, and the limit in force."""

    name: str
    limit: int | None
    plan_default: int | None
    override: int | None


@dataclass(frozen=True, slots=True)
class FeatureView:
    """One feature of an instance: on or off, and whether the plan or the instance says so."""

    feature: str
    enabled: bool
    source: str


class TenancyService:
    """The control plane's operations over one :class:`Database` and its :class:`Quotas`."""

    def __init__(self, db: Database, quotas: Quotas) -> None:
        self.db = db
        self.quotas = quotas

    # --- regions ------------------------------------------------------------------------------

    async def list_regions(self, page: PageRequest, *, name: str | None = None) -> Page:
        """Every region (global data)."""
        select = Select(REGION_SELECT)
        _prefix(select, "name", name)
        async with self.db.platform() as conn:
            return await select.page(conn, page, _NAMED_TEXT_ID)

    async def get_region(self, region_id: str) -> dict[str, Any]:
        async with self.db.platform() as conn:
            record = await conn.fetchrow(f"{REGION_SELECT} WHERE id = $1", region_id)
        if record is None:
            raise NotFoundError(f"region {region_id} not found")
        return dict(record)

    async def create_region(self, actor: str, region_id: str, name: str) -> dict[str, Any]:
        async with self.db.platform() as conn:
            with constraint_errors():
                await conn.execute(
                    "INSERT INTO regions (id, name) VALUES ($1, $2)", region_id, name
                )
            await audit(conn, NIL, actor, "region.create", f"region:{region_id}", {"name": name})
        return await self.get_region(region_id)

    async def update_region(self, actor: str, region_id: str, name: str) -> dict[str, Any]:
        async with self.db.platform() as conn:
            if not await _update(conn, "regions", {"id": region_id}, {"name": name}, touch=False):
                raise NotFoundError(f"region {region_id} not found")
            await audit(conn, NIL, actor, "region.update", f"region:{region_id}", {"name": name})
        return await self.get_region(region_id)

    async def delete_region(self, actor: str, region_id: str) -> None:
        async with self.db.platform() as conn:
            with constraint_errors():
                gone = await conn.fetchval(
                    "DELETE FROM regions WHERE id = $1 RETURNING true", region_id
                )
            if not gone:
                raise NotFoundError(f"region {region_id} not found")
            await audit(conn, NIL, actor, "region.delete", f"region:{region_id}")

    # --- plans --------------------------------------------------------------------------------

    async def list_plans(self, page: PageRequest, *, name: str | None = None) -> Page:
        """Every plan (subscription tier)."""
        select = Select(PLAN_SELECT)
        _prefix(select, "name", name)
        async with self.db.platform() as conn:
            found = await select.page(conn, page, _NAMED_TEXT_ID)
        return _decoded(found, "unit_prices", "quotas", "features")

    async def get_plan(self, plan_id: str) -> dict[str, Any]:
        async with self.db.platform() as conn:
            record = await conn.fetchrow(f"{PLAN_SELECT} WHERE id = $1", plan_id)
        if record is None:
            raise NotFoundError(f"plan {plan_id} not found")
        return _row(record, "unit_prices", "quotas", "features")

    async def create_plan(self, actor: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        async with self.db.platform() as conn:
            with constraint_errors():
                await conn.execute(
                    "INSERT INTO plans (id, name, monthly_price_cents, currency, unit_prices,"
                    " quotas, features) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb)",
                    fields["id"],
                    fields["name"],
                    fields["monthly_price_cents"],
                    fields["currency"],
                    _jsonb(fields["unit_prices"]),
                    _jsonb(fields["quotas"]),
                    _jsonb(fields["features"]),
                )
            await audit(conn, NIL, actor, "plan.create", f"plan:{fields['id']}", fields)
        return await self.get_plan(fields["id"])

    async def update_plan(
        self, actor: str, plan_id: str, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        json_columns = frozenset({"unit_prices", "quotas", "features"})
        async with self.db.platform() as conn:
            if not await _update(
                conn, "plans", {"id": plan_id}, changes, json_columns, touch=False
            ):
                raise NotFoundError(f"plan {plan_id} not found")
            await audit(conn, NIL, actor, "plan.update", f"plan:{plan_id}", changes)
        return await self.get_plan(plan_id)

    async def delete_plan(self, actor: str, plan_id: str) -> None:
        async with self.db.platform() as conn:
            with constraint_errors():
                gone = await conn.fetchval(
                    "DELETE FROM plans WHERE id = $1 RETURNING true", plan_id
                )
            if not gone:
                raise NotFoundError(f"plan {plan_id} not found")
            await audit(conn, NIL, actor, "plan.delete", f"plan:{plan_id}")

    # --- customers ----------------------------------------------------------------------------

    async def create_customer(self, actor: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """A customer row, then its shard map entry (``shard_id``, else the least loaded)."""
        shard_id = fields.get("shard_id")
        async with self.db.platform() as conn:
            if shard_id is not None:
                status = await conn.fetchval("SELECT status FROM shards WHERE id = $1", shard_id)
                if status != "active":
                    raise InvalidError(f"shard_id: no active shard {shard_id}")
            with constraint_errors():
                customer_id = await conn.fetchval(
                    "INSERT INTO customers (name, status, plan_id, region_id, max_instances,"
                    " metadata) VALUES ($1, $2, $3, $4, $5, $6::jsonb) RETURNING id",
                    fields["name"],
                    fields["status"],
                    fields["plan_id"],
                    fields["region_id"],
                    fields.get("max_instances"),
                    _jsonb(fields.get("metadata", {})),
                )
            await audit(
                conn, customer_id, actor, "customer.create", f"customer:{customer_id}", fields
            )
        try:
            await self.db.assign(customer_id, shard_id)
        except BaseException:
            # No customer without a shard: undo the row (the audit row stays: the attempt happened).
            async with self.db.platform() as conn:
                await conn.execute("DELETE FROM customers WHERE id = $1", customer_id)
            raise
        return await self.get_customer(customer_id)

    async def list_customers(
        self,
        page: PageRequest,
        *,
        only: UUID | None,
        status: str | None = None,
        name: str | None = None,
        plan_id: str | None = None,
        region_id: str | None = None,
    ) -> Page:
        """All customers (``only`` None: a platform caller) or just ``only``'s own row."""
        select = Select(CUSTOMER_SELECT)
        select.filter("status = {}", status)
        select.filter("plan_id = {}", plan_id)
        select.filter("region_id = {}", region_id)
        _prefix(select, "name", name)
        if only is None:
            async with self.db.platform() as conn:
                found = await select.page(conn, page, _NAMED)
        else:
            async with self.db.control_tenant(only) as conn:
                found = await select.page(conn, page, _NAMED)
        return _decoded(found, "metadata")

    async def get_customer(self, customer_id: UUID) -> dict[str, Any]:
        async with self.db.control_tenant(customer_id) as conn:
            row = await fetch_customer(conn, customer_id)
        if row is None:
            raise NotFoundError(f"customer {customer_id} not found")
        return row

    async def update_customer(
        self, actor: str, customer_id: UUID, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        async with self.db.control_tenant(customer_id) as conn:
            if not await _update(
                conn, "customers", {"id": customer_id}, changes, frozenset({"metadata"})
            ):
                raise NotFoundError(f"customer {customer_id} not found")
            await audit(
                conn, customer_id, actor, "customer.update", f"customer:{customer_id}", changes
            )
        self.quotas.invalidate(customer_id)  # the plan or max_instances may have changed
        return await self.get_customer(customer_id)

    async def delete_customer(self, actor: str, customer_id: UUID) -> None:
        """Delete the customer's instances (and all that hangs on them) on its shard, then its
        control rows; the audit and usage history stays on the shard."""
        async with self.db.tenant(customer_id) as conn:
            await conn.execute("DELETE FROM instances WHERE customer_id = $1", customer_id)
            await audit(conn, customer_id, actor, "customer.delete", f"customer:{customer_id}")
        async with self.db.control_tenant(customer_id) as conn:
            await conn.execute("DELETE FROM customers WHERE id = $1", customer_id)
        self.db.invalidate(customer_id)

    # --- subscriptions (the original's GBOnlineSubscription) ----------------------------------

    async def list_subscriptions(
        self, customer_id: UUID, page: PageRequest, *, status: str | None = None
    ) -> Page:
        select = Select(SUBSCRIPTION_SELECT)
        select.filter("status = {}", status)
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            return await select.page(conn, page, {"created_at": _CREATED})

    async def get_subscription(self, customer_id: UUID, subscription_id: UUID) -> dict[str, Any]:
        async with self.db.control_tenant(customer_id) as conn:
            record = await conn.fetchrow(f"{SUBSCRIPTION_SELECT} WHERE id = $1", subscription_id)
        if record is None:
            raise NotFoundError(f"subscription {subscription_id} not found")
        return dict(record)

    async def create_subscription(
        self, actor: str, customer_id: UUID, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        columns = dict(fields)
        columns.update(_status_times(columns.get("status")))
        names = ", ".join(columns)
        select = Select("")
        marks = ", ".join(select.param(v) for v in columns.values())
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            with constraint_errors():
                new_id = await conn.fetchval(
                    f"INSERT INTO subscriptions (customer_id, {names}) VALUES"
                    f" ({select.param(customer_id)}, {marks}) RETURNING id",
                    *select.args,
                )
            await audit(
                conn, customer_id, actor, "subscription.create", f"subscription:{new_id}", fields
            )
        return await self.get_subscription(customer_id, new_id)

    async def update_subscription(
        self, actor: str, customer_id: UUID, subscription_id: UUID, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        columns = dict(changes)
        columns.update(_status_times(columns.get("status")))
        async with self.db.control_tenant(customer_id) as conn:
            if not await _update(
                conn, "subscriptions", {"id": subscription_id}, columns, touch=False
            ):
                raise NotFoundError(f"subscription {subscription_id} not found")
            await audit(
                conn,
                customer_id,
                actor,
                "subscription.update",
                f"subscription:{subscription_id}",
                changes,
            )
        return await self.get_subscription(customer_id, subscription_id)

    # --- quotas -------------------------------------------------------------------------------

    async def get_quotas(self, customer_id: UUID) -> list[QuotaView]:
        """Every quota: the plan's default, the customer's override, the limit in force."""
        async with self.db.control_tenant(customer_id) as conn:
            plan = await conn.fetchrow(
                "SELECT p.quotas, c.max_instances FROM customers c JOIN plans p ON p.id = c.plan_id"
                " WHERE c.id = $1",
                customer_id,
            )
            if plan is None:
                raise NotFoundError(f"customer {customer_id} not found")
            rows = await conn.fetch("SELECT name, value FROM quota_overrides")
        defaults = _row(plan, "quotas")["quotas"]
        overrides = {r["name"]: r["value"] for r in rows}
        views = []
        for name in QuotaName:
            default = defaults.get(name.value)
            if name is QuotaName.INSTANCES and plan["max_instances"] is not None:
                default = plan["max_instances"]
            override = overrides.get(name.value)
            limit = override if override is not None else default
            views.append(QuotaView(name.value, limit, default, override))
        return views

    async def set_quota(self, actor: str, customer_id: UUID, name: QuotaName, value: int) -> None:
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            await conn.execute(
                "INSERT INTO quota_overrides (customer_id, name, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (customer_id, name) DO UPDATE SET value = EXCLUDED.value",
                customer_id,
                name.value,
                value,
            )
            await audit(
                conn, customer_id, actor, "quota.set", f"quota:{name.value}", {"value": value}
            )
        self.quotas.invalidate(customer_id)

    async def delete_quota(self, actor: str, customer_id: UUID, name: QuotaName) -> None:
        async with self.db.control_tenant(customer_id) as conn:
            gone = await conn.fetchval(
                "DELETE FROM quota_overrides WHERE customer_id = $1 AND name = $2 RETURNING true",
                customer_id,
                name.value,
            )
            if not gone:
                raise NotFoundError(f"quota override {name.value} not found")
            await audit(conn, customer_id, actor, "quota.reset", f"quota:{name.value}")
        self.quotas.invalidate(customer_id)

    # --- instances ----------------------------------------------------------------------------

    async def create_instance(
        self, actor: str, customer_id: UUID, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A new instance, if the customer's ``instances`` quota allows one more."""
        region_id = fields.get("region_id")
        async with self.db.control_tenant(customer_id) as conn:
            customer = await fetch_customer(conn, customer_id)
            # Instances live on a shard: no foreign key can check the region there.
            known = region_id is None or await conn.fetchval(
                "SELECT true FROM regions WHERE id = $1", region_id
            )
        if customer is None:
            raise NotFoundError(f"customer {customer_id} not found")
        if not known:
            raise InvalidError(f"region_id: {region_id} does not exist")
        region_id = region_id or customer["region_id"]
        shard = await self.db.shard_of(customer_id)
        # Limits first: their load must not wait for a pool connection while this holds one.
        await self.quotas.limits(customer_id)
        async with self.db.tenant(customer_id) as conn:
            # One creation at a time per customer, so two cannot both pass the quota check.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"instances:{customer_id}"
            )
            await self.quotas.check_instances(customer_id, await count_instances(conn))
            with constraint_errors():
                instance_id = await conn.fetchval(
                    "INSERT INTO instances (customer_id, name, title, description, region_id,"
                    " shard_id, config, params) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb,"
                    " $8::jsonb) RETURNING id",
                    customer_id,
                    fields["name"],
                    fields.get("title"),
                    fields.get("description"),
                    region_id,
                    shard.id,
                    _jsonb(fields.get("config", {})),
                    _jsonb(fields.get("params", {})),
                )
            await audit(
                conn, customer_id, actor, "instance.create", f"instance:{instance_id}", fields
            )
            row = await fetch_instance(conn, instance_id)
        assert row is not None
        return row

    async def list_instances(
        self,
        customer_id: UUID,
        page: PageRequest,
        *,
        only: str | None = None,
        status: str | None = None,
        name: str | None = None,
    ) -> Page:
        """The customer's instances; ``only`` (an instance id) for instance-bound callers."""
        select = Select(INSTANCE_SELECT)
        select.filter("id::text = {}", only)
        select.filter("status = {}", status)
        _prefix(select, "name", name)
        async with self.db.tenant(customer_id, readonly=True) as conn:
            found = await select.page(conn, page, _NAMED)
        return _decoded(found, "config", "params")

    async def get_instance(self, customer_id: UUID, instance_id: UUID) -> dict[str, Any]:
        async with self.db.tenant(customer_id, readonly=True) as conn:
            row = await fetch_instance(conn, instance_id)
        if row is None:
            raise NotFoundError(f"instance {instance_id} not found")
        return row

    async def update_instance(
        self, actor: str, customer_id: UUID, instance_id: UUID, changes: Mapping[str, Any]
    ) -> dict[str, Any]:
        async with self.db.tenant(customer_id) as conn:
            language = changes.get("text_search")
            if language is not None and not await conn.fetchval(
                "SELECT EXISTS (SELECT FROM pg_ts_config WHERE cfgname = $1)", language
            ):
                raise InvalidError(
                    f"text_search: no text-search configuration {language!r} in PostgreSQL"
                    " (e.g. simple, english, portuguese, spanish)"
                )
            if not await _update(conn, "instances", {"id": instance_id}, changes, _INSTANCE_JSON):
                raise NotFoundError(f"instance {instance_id} not found")
            await audit(
                conn, customer_id, actor, "instance.update", f"instance:{instance_id}", changes
            )
            row = await fetch_instance(conn, instance_id)
        assert row is not None
        return row

    async def delete_instance(self, actor: str, customer_id: UUID, instance_id: UUID) -> None:
        """Delete an instance and what hangs on it (features, users, groups, ...)."""
        async with self.db.tenant(customer_id) as conn:
            gone = await conn.fetchval(
                "DELETE FROM instances WHERE id = $1 RETURNING true", instance_id
            )
            if not gone:
                raise NotFoundError(f"instance {instance_id} not found")
            await audit(conn, customer_id, actor, "instance.delete", f"instance:{instance_id}")

    # --- feature toggles ----------------------------------------------------------------------

    async def list_features(self, customer_id: UUID, instance_id: UUID) -> list[FeatureView]:
        """The plan's features, each overridden by the instance's toggle when it has one."""
        async with self.db.control_tenant(customer_id) as conn:
            defaults_json = await conn.fetchval(
                "SELECT p.features FROM customers c JOIN plans p ON p.id = c.plan_id"
                " WHERE c.id = $1",
                customer_id,
            )
        async with self.db.tenant(customer_id, readonly=True) as conn:
            await _require_instance(conn, instance_id)
            rows = await conn.fetch(
                "SELECT feature, enabled FROM instance_features WHERE instance_id = $1", instance_id
            )
        defaults = orjson.loads(defaults_json) if isinstance(defaults_json, str) else {}
        views = {k: FeatureView(k, bool(v), "plan") for k, v in defaults.items()}
        for r in rows:
            views[r["feature"]] = FeatureView(r["feature"], r["enabled"], "instance")
        return [views[k] for k in sorted(views)]

    async def set_feature(
        self, actor: str, customer_id: UUID, instance_id: UUID, feature: str, enabled: bool
    ) -> FeatureView:
        async with self.db.tenant(customer_id) as conn:
            await _require_instance(conn, instance_id)
            with constraint_errors():
                await conn.execute(
                    "INSERT INTO instance_features (customer_id, instance_id, feature, enabled)"
                    " VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id, feature)"
                    " DO UPDATE SET enabled = EXCLUDED.enabled, updated_at = now()",
                    customer_id,
                    instance_id,
                    feature,
                    enabled,
                )
            await audit(
                conn,
                customer_id,
                actor,
                "feature.set",
                f"instance:{instance_id}/feature:{feature}",
                {"enabled": enabled},
            )
        return FeatureView(feature, enabled, "instance")

    async def reset_feature(
        self, actor: str, customer_id: UUID, instance_id: UUID, feature: str
    ) -> None:
        """Drop the instance's toggle: the plan's default applies again."""
        async with self.db.tenant(customer_id) as conn:
            await _require_instance(conn, instance_id)
            gone = await conn.fetchval(
                "DELETE FROM instance_features WHERE instance_id = $1 AND feature = $2"
                " RETURNING true",
                instance_id,
                feature,
            )
            if not gone:
                raise NotFoundError(f"feature toggle {feature} not found")
            await audit(
                conn,
                customer_id,
                actor,
                "feature.reset",
                f"instance:{instance_id}/feature:{feature}",
            )

    # --- users (GuaribasUser) -----------------------------------------------------------------

    async def list_users(
        self,
        customer_id: UUID,
        instance_id: UUID,
        page: PageRequest,
        *,
        name: str | None = None,
        email: str | None = None,
    ) -> Page:
        """An instance's users; ``name`` is a prefix of ``user_system_id``."""
        select = Select(f"SELECT {USER_COLUMNS} FROM users")
        select.filter("instance_id = {}", instance_id)
        select.filter("email = {}", email)
        _prefix(select, "user_system_id", name)
        async with self.db.tenant(customer_id, readonly=True) as conn:
            await _require_instance(conn, instance_id)
            found = await select.page(
                conn, page, {"created_at": _CREATED, "name": _by("user_system_id")}
            )
        return _decoded(found, "params")

    async def get_user(self, customer_id: UUID, instance_id: UUID, user_id: UUID) -> dict[str, Any]:
        async with self.db.tenant(customer_id, readonly=True) as conn:
            return await self._user(conn, instance_id, user_id)

    @staticmethod
    async def _user(conn: asyncpg.Connection, instance_id: UUID, user_id: UUID) -> dict[str, Any]:
        record = await conn.fetchrow(
            f"SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND instance_id = $2",
            user_id,
            instance_id,
        )
        if record is None:
            raise NotFoundError(f"user {user_id} not found")
        return _row(record, "params")

    async def create_user(
        self, actor: str, customer_id: UUID, instance_id: UUID, fields: Mapping[str, Any]
    ) -> dict[str, Any]:
        columns = dict(fields)
        columns["params"] = _jsonb(columns.get("params", {}))
        select = Select("")
        base = [select.param(customer_id), select.param(instance_id)]
        marks = [
            f"{select.param(v)}::jsonb" if k == "params" else select.param(v)
            for k, v in columns.items()
        ]
        async with self.db.tenant(customer_id) as conn:
            await _require_instance(conn, instance_id)
            with constraint_errors():
                user_id = await conn.fetchval(
                    f"INSERT INTO users (customer_id, instance_id, {', '.join(columns)})"
                    f" VALUES ({', '.join(base + marks)}) RETURNING id",
                    *select.args,
                )
            await audit(conn, customer_id, actor, "user.create", f"user:{user_id}", fields)
            return await self._user(conn, instance_id, user_id)

    async def update_user(
        self,
        actor: str,
        customer_id: UUID,
        instance_id: UUID,
        user_id: UUID,
        changes: Mapping[str, Any],
    ) -> dict[str, Any]:
        key = {"id": user_id, "instance_id": instance_id}
        async with self.db.tenant(customer_id) as conn:
            if not await _update(conn, "users", key, changes, _USER_JSON):
                raise NotFoundError(f"user {user_id} not found")
            await audit(conn, customer_id, actor, "user.update", f"user:{user_id}", changes)
            return await self._user(conn, instance_id, user_id)

    async def delete_user(
        self, actor: str, customer_id: UUID, instance_id: UUID, user_id: UUID
    ) -> None:
        await self._delete(actor, customer_id, "users", "user", instance_id, user_id)

    async def _delete(
        self,
        actor: str,
        customer_id: UUID,
        table: str,
        kind: str,
        instance_id: UUID,
        row_id: UUID,
    ) -> None:
        async with self.db.tenant(customer_id) as conn:
            gone = await conn.fetchval(
                f"DELETE FROM {table} WHERE id = $1 AND instance_id = $2 RETURNING true",
                row_id,
                instance_id,
            )
            if not gone:
                raise NotFoundError(f"{kind} {row_id} not found")
            await audit(conn, customer_id, actor, f"{kind}.delete", f"{kind}:{row_id}")

    # --- groups and memberships (GuaribasGroup, GuaribasUserGroup) ----------------------------

    async def list_groups(
        self, customer_id: UUID, instance_id: UUID, page: PageRequest, *, name: str | None = None
    ) -> Page:
        select = Select(GROUP_SELECT)
        select.filter("instance_id = {}", instance_id)
        _prefix(select, "display_name", name)
        async with self.db.tenant(customer_id, readonly=True) as conn:
            await _require_instance(conn, instance_id)
            return await select.page(
                conn, page, {"created_at": _CREATED, "name": _by("display_name")}
            )

    async def get_group(
        self, customer_id: UUID, instance_id: UUID, group_id: UUID
    ) -> dict[str, Any]:
        async with self.db.tenant(customer_id, readonly=True) as conn:
            return await self._group(conn, instance_id, group_id)

    @staticmethod
    async def _group(conn: asyncpg.Connection, instance_id: UUID, group_id: UUID) -> dict[str, Any]:
        record = await conn.fetchrow(
            f"{GROUP_SELECT} WHERE id = $1 AND instance_id = $2", group_id, instance_id
        )
        if record is None:
            raise NotFoundError(f"group {group_id} not found")
        return dict(record)

    async def create_group(
        self, actor: str, customer_id: UUID, instance_id: UUID, display_name: str
    ) -> dict[str, Any]:
        async with self.db.tenant(customer_id) as conn:
            await _require_instance(conn, instance_id)
            with constraint_errors():
                group_id = await conn.fetchval(
                    "INSERT INTO groups (customer_id, instance_id, display_name)"
                    " VALUES ($1, $2, $3) RETURNING id",
                    customer_id,
                    instance_id,
                    display_name,
                )
            details = {"display_name": display_name}
            await audit(conn, customer_id, actor, "group.create", f"group:{group_id}", details)
            return await self._group(conn, instance_id, group_id)

    async def update_group(
        self, actor: str, customer_id: UUID, instance_id: UUID, group_id: UUID, display_name: str
    ) -> dict[str, Any]:
        key = {"id": group_id, "instance_id": instance_id}
        details = {"display_name": display_name}
        async with self.db.tenant(customer_id) as conn:
            if not await _update(conn, "groups", key, details):
                raise NotFoundError(f"group {group_id} not found")
            await audit(conn, customer_id, actor, "group.update", f"group:{group_id}", details)
            return await self._group(conn, instance_id, group_id)

    async def delete_group(
        self, actor: str, customer_id: UUID, instance_id: UUID, group_id: UUID
    ) -> None:
        await self._delete(actor, customer_id, "groups", "group", instance_id, group_id)

    async def list_members(
        self, customer_id: UUID, instance_id: UUID, group_id: UUID, page: PageRequest
    ) -> Page:
        """The users in a group, with when they joined."""
        columns = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
        select = Select(
            f"SELECT {columns}, ug.created_at AS joined_at FROM user_groups ug"
            " JOIN users u ON u.id = ug.user_id"
        )
        select.filter("ug.group_id = {}", group_id)
        sorts = {
            "created_at": (("ug.created_at", "joined_at", "ts"), ("u.id", "id", "uuid")),
            "name": (("u.user_system_id", "user_system_id", "text"), ("u.id", "id", "uuid")),
        }
        async with self.db.tenant(customer_id, readonly=True) as conn:
            await _require_in_instance(conn, "groups", "group", instance_id, group_id)
            found = await select.page(conn, page, sorts)
        return _decoded(found, "params")

    async def list_user_groups(
        self, customer_id: UUID, instance_id: UUID, user_id: UUID, page: PageRequest
    ) -> Page:
        """The groups a user is in."""
        select = Select(
            "SELECT g.id, g.instance_id, g.display_name, g.created_at, g.updated_at"
            " FROM user_groups ug JOIN groups g ON g.id = ug.group_id"
        )
        select.filter("ug.user_id = {}", user_id)
        sorts = {
            "created_at": (("g.created_at", "created_at", "ts"), ("g.id", "id", "uuid")),
            "name": (("g.display_name", "display_name", "text"), ("g.id", "id", "uuid")),
        }
        async with self.db.tenant(customer_id, readonly=True) as conn:
            await _require_in_instance(conn, "users", "user", instance_id, user_id)
            return await select.page(conn, page, sorts)

    async def add_member(
        self, actor: str, customer_id: UUID, instance_id: UUID, group_id: UUID, user_id: UUID
    ) -> bool:
        """Put a user in a group; False when it already was."""
        async with self.db.tenant(customer_id) as conn:
            await _require_in_instance(conn, "groups", "group", instance_id, group_id)
            await _require_in_instance(conn, "users", "user", instance_id, user_id)
            added = await conn.fetchval(
                "INSERT INTO user_groups (customer_id, instance_id, user_id, group_id)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true",
                customer_id,
                instance_id,
                user_id,
                group_id,
            )
            if added:
                await audit(
                    conn, customer_id, actor, "group.member.add", f"group:{group_id}/user:{user_id}"
                )
        return bool(added)

    async def remove_member(
        self, actor: str, customer_id: UUID, instance_id: UUID, group_id: UUID, user_id: UUID
    ) -> None:
        async with self.db.tenant(customer_id) as conn:
            gone = await conn.fetchval(
                "DELETE FROM user_groups WHERE group_id = $1 AND user_id = $2 AND instance_id = $3"
                " RETURNING true",
                group_id,
                user_id,
                instance_id,
            )
            if not gone:
                raise NotFoundError(f"membership of user {user_id} in group {group_id} not found")
            await audit(
                conn, customer_id, actor, "group.member.remove", f"group:{group_id}/user:{user_id}"
            )

    # --- API keys -----------------------------------------------------------------------------

    async def create_api_key(
        self,
        actor: str,
        customer_id: UUID,
        name: str,
        roles: Sequence[str],
        instance_id: UUID | None,
    ) -> tuple[dict[str, Any], str]:
        """A new key: its row, and the key itself (shown this once; only its hash is kept)."""
        if instance_id is not None:
            async with self.db.tenant(customer_id) as conn:
                instance = await fetch_instance(conn, instance_id)
            if instance is None:
                raise InvalidError(f"instance_id: instance {instance_id} does not exist")
        key = API_KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hash_api_key(key)
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            with constraint_errors():
                key_id = await conn.fetchval(
                    "INSERT INTO api_keys (customer_id, instance_id, name, prefix, key_hash, roles)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    customer_id,
                    instance_id,
                    name,
                    key[:_KEY_PREFIX_CHARS],
                    digest,
                    list(roles),
                )
            details = {"name": name, "roles": list(roles), "instance_id": instance_id}
            await audit(conn, customer_id, actor, "api_key.create", f"api_key:{key_id}", details)
            record = await conn.fetchrow(f"{API_KEY_SELECT} WHERE id = $1", key_id)
        assert record is not None
        return dict(record), key

    async def list_api_keys(
        self,
        customer_id: UUID,
        page: PageRequest,
        *,
        revoked: bool | None = None,
        name: str | None = None,
    ) -> Page:
        select = Select(API_KEY_SELECT)
        if revoked is not None:
            select.where.append(f"revoked_at IS {'NOT ' if revoked else ''}NULL")
        _prefix(select, "name", name)
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            return await select.page(conn, page, _NAMED)

    async def get_api_key(self, customer_id: UUID, key_id: UUID) -> dict[str, Any]:
        async with self.db.control_tenant(customer_id) as conn:
            record = await conn.fetchrow(f"{API_KEY_SELECT} WHERE id = $1", key_id)
        if record is None:
            raise NotFoundError(f"api key {key_id} not found")
        return dict(record)

    async def revoke_api_key(self, actor: str, customer_id: UUID, key_id: UUID) -> dict[str, Any]:
        """Revoke a key (idempotent: a revoked key keeps its first revocation time)."""
        async with self.db.control_tenant(customer_id) as conn:
            record = await conn.fetchrow(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
                " RETURNING id, customer_id, instance_id, name, prefix, roles, created_at,"
                " last_used_at, revoked_at",
                key_id,
            )
            if record is None:
                raise NotFoundError(f"api key {key_id} not found")
            await audit(conn, customer_id, actor, "api_key.revoke", f"api_key:{key_id}")
        return dict(record)

    # --- usage and billing --------------------------------------------------------------------

    async def usage(
        self,
        customer_id: UUID,
        page: PageRequest,
        *,
        period: str,
        instance_id: UUID | None = None,
        per_instance: bool = False,
        kind: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> Page:
        """Usage roll-ups of a period kind (``day``/``month``) from ``start`` to before
        ``end``: customer-wide, per instance (``per_instance``) or of one ``instance_id``."""
        select = Select(USAGE_SELECT)
        select.filter("period = {}", period)
        select.filter("kind = {}", kind)
        select.filter("period_start >= {}", start)
        select.filter("period_start < {}", end)
        if instance_id is not None:
            select.filter("instance_id = {}", instance_id)
        elif per_instance:
            select.filter("instance_id <> {}", NIL)
        else:
            select.filter("instance_id = {}", NIL)
        sorts = {
            "period_start": (
                ("period_start", "period_start", "date"),
                ("kind", "kind", "text"),
                ("instance_id", "instance_id", "uuid"),
            )
        }
        # Lag-tolerant: a replica may answer.
        async with self.db.tenant(customer_id, readonly=True) as conn:
            if instance_id is not None:
                await _require_instance(conn, instance_id)
            found = await select.page(conn, page, sorts)
        for item in found.items:
            if item["instance_id"] == NIL:
                item["instance_id"] = None
        return found

    async def list_invoices(
        self,
        customer_id: UUID,
        page: PageRequest,
        *,
        status: str | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> Page:
        select = Select(INVOICE_SELECT)
        select.filter("status = {}", status)
        select.filter("period_start >= {}", start)
        select.filter("period_start < {}", end)
        sorts = {"created_at": _CREATED, "period_start": _by("period_start", "date")}
        async with self.db.control_tenant(customer_id) as conn:
            await _require_customer(conn, customer_id)
            return await select.page(conn, page, sorts)

    async def get_invoice(self, customer_id: UUID, invoice_id: UUID) -> dict[str, Any]:
        """An invoice with its lines."""
        async with self.db.control_tenant(customer_id) as conn:
            record = await conn.fetchrow(f"{INVOICE_SELECT} WHERE id = $1", invoice_id)
            if record is None:
                raise NotFoundError(f"invoice {invoice_id} not found")
            lines = await conn.fetch(
                "SELECT id, instance_id, kind, quantity, unit_price_mcents, amount_cents"
                " FROM invoice_lines WHERE invoice_id = $1 ORDER BY kind, instance_id NULLS FIRST",
                invoice_id,
            )
        invoice = dict(record)
        invoice["lines"] = [dict(line) for line in lines]
        return invoice


def _status_times(status: object) -> dict[str, Any]:
    """The timestamp column a subscription status change stamps."""
    now = dt.datetime.now(dt.UTC)
    if status == "active":
        return {"activated_at": now}
    if status == "cancelled":
        return {"cancelled_at": now}
    return {}


def hash_api_key(key: str) -> bytes:
    """The SHA-256 of an API key: what ``api_keys.key_hash`` stores."""
    return hashlib.sha256(key.encode()).digest()
