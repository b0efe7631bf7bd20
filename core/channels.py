"""Channel names and who may use them.

Channels live inside a tenant (``customer/instance``); the same name in two tenants is two
channels with two ids. Prefixes carry the rules:

- ``user:<id>`` and ``user:<id>:...``: only that user (or an admin) may subscribe; anyone in
  the tenant may publish (an inbox).
- ``sys:...``: anyone may subscribe; only the ``admin``, ``bot`` and ``system`` roles publish.
- ``conv:<conversation id>``: a conversation's live events (messages, receipts, members). Only
  its members subscribe (the hub asks the messaging service, see ``Hub.set_guard``); nobody
  publishes directly: messages go through ``msg.send`` so they are logged before anyone sees them.
- anything else: every member of the tenant subscribes and publishes, except the
  ``viewer`` role, which only subscribes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard

GUARDED = frozenset({"conv:"})
"""Prefixes whose subscriptions a guard must allow (``Hub.set_guard``); without one, refused."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._@/\-]{0,199}")
ADMIN_ROLES = frozenset({"admin", "platform_admin", "customer_admin", "instance_admin"})
SYSTEM_PUBLISHERS = frozenset({"admin", "platform_admin", "bot", "system"})


@dataclass(frozen=True, slots=True)
class Access:
    """What one identity may do on one channel."""

    subscribe: bool
    publish: bool


def valid_name(name: object) -> TypeGuard[str]:
    """True for a channel name of 1-200 characters from ``[A-Za-z0-9:._@/-]``."""
    return isinstance(name, str) and NAME.fullmatch(name) is not None


def access(name: str, user: str, roles: frozenset[str]) -> Access:
    """The rights of ``user`` with ``roles`` on channel ``name`` (see the module doc)."""
    if name.startswith("user:"):
        owner = name[5:].split(":", 1)[0]
        return Access(subscribe=owner == user or bool(roles & ADMIN_ROLES), publish=True)
    if name.startswith("conv:"):
        return Access(subscribe=True, publish=False)
    if name.startswith("sys:"):
        return Access(subscribe=True, publish=bool(roles & SYSTEM_PUBLISHERS))
    return Access(subscribe=True, publish="viewer" not in roles)
