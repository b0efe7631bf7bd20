"""Tenancy at run time: quotas and their counters, usage metering, billing (ADR 0006).

- :mod:`.counters` — concurrency and fixed-window counters, in-process or shared through Redis.
- :mod:`.quotas` — a customer's limits (plan, overrides) and the checks that refuse past them.
- :mod:`.metering` — usage recorded on the hot path, flushed with COPY, rolled up per day/month.
- :mod:`.billing` — a calendar month priced by the plan into an invoice.
"""

from gb.core.tenancy.billing import InvoiceLocked, invoice
from gb.core.tenancy.counters import Counters, MemoryCounters, RedisCounters
from gb.core.tenancy.metering import UsageKind, UsageRecorder, rollup, usage_snapshot
from gb.core.tenancy.quotas import QuotaExceeded, QuotaName, Quotas

__all__ = [
    "Counters",
    "InvoiceLocked",
    "MemoryCounters",
    "QuotaExceeded",
    "QuotaName",
    "Quotas",
    "RedisCounters",
    "UsageKind",
    "UsageRecorder",
    "invoice",
    "rollup",
    "usage_snapshot",
]
