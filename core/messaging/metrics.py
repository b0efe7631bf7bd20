"""``gb_messaging_events_total{event}``: the message service's counters, read at scrape time.

One family with an ``event`` label per field of :class:`MessagingStats` (sent, duplicates,
log_unavailable, cache_errors, delivery_errors, quota_errors, unvouched, repairs_dropped,
stale_resolved, recoveries_incomplete): the hot path only increments plain ints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from .service import MessagingStats


class MessagingCollector(Collector):
    """Exposes one service's :class:`MessagingStats` as ``gb_messaging_events_total``."""

    def __init__(self, stats: MessagingStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "gb_messaging_events",
            "Message service events on this node: sends, duplicates and degradations.",
            labels=["event"],
        )
        for field in dataclasses.fields(self.stats):
            family.add_metric([field.name], getattr(self.stats, field.name))
        yield family
