"""Prometheus view of the native edge's counters, read at scrape time.

Why a collector: the edge counts frames, bytes, deliveries and latency in plain C integers
(no lock, no Python call per frame); this collector turns them into metric families only
when Prometheus asks.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from gb.protocol.codes import ErrorCode, FrameType

from ._native.edge import LATENCY_BOUNDS, Stats

NAMESPACE = "gb"
_TYPE_NAMES = {int(t): t.name for t in FrameType}
_ERROR_NAMES = {int(c): c.name for c in ErrorCode}


class EdgeCollector(Collector):
    """Metric families of one node's edge :class:`Stats`."""

    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        s = self.stats

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            return CounterMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)

        def by_label(
            name: str, doc: str, label: str, values: dict[int, int], names: dict[int, str]
        ) -> CounterMetricFamily:
            family = CounterMetricFamily(f"{NAMESPACE}_{name}", doc, labels=[label])
            for key, value in sorted(values.items()):
                family.add_metric([names.get(key, str(key))], value)
            return family

        yield by_label(
            "frames_in", "Frames read from clients.", "type", s.frames_in_by_type(), _TYPE_NAMES
        )
        yield by_label(
            "frames_out",
            "Frames written to clients (fan-out counted apart).",
            "type",
            s.frames_out_by_type(),
            _TYPE_NAMES,
        )
        yield by_label(
            "errors", "ERROR frames sent, by code.", "code", s.errors_by_code(), _ERROR_NAMES
        )
        yield counter("bytes_in", "WebSocket payload bytes read from clients.", s.bytes_in)
        yield counter("bytes_out", "Bytes written to client sockets.", s.bytes_out)
        yield counter("socket_writes", "Coalesced socket writes.", s.writes)
        yield counter(
            "fanout_deliveries",
            "DELIVER frames queued by fan-out (one per subscriber).",
            s.deliveries,
        )
        yield counter(
            "slow_consumers_dropped",
            "Connections dropped because their send buffer passed the bound.",
            s.slow_consumers,
        )
        yield counter(
            "rate_limited_frames",
            "Frames refused by the per-connection rate limit.",
            s.rate_limited,
        )
        yield counter(
            "connections_accepted", "WebSocket connections accepted.", s.connections_total
        )
        counts, total, _count = s.latency()
        buckets, running = [], 0
        for bound, n in zip((*LATENCY_BOUNDS, float("inf")), counts, strict=True):
            running += n
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
        yield HistogramMetricFamily(
            f"{NAMESPACE}_publish_to_deliver_seconds",
            "Seconds from a publication's arrival (here or on its origin node) to its write.",
            buckets=buckets,
            sum_value=total,
        )
