"""Every Prometheus metric of a gb node, defined once, on a registry owned by :class:`Metrics`.

Each :class:`Metrics` has its own ``CollectorRegistry``, so tests build isolated instances and
nothing registers on the global default registry.

Hot path: labelled counters are bound to their label values once, here, and kept in dicts keyed
by the enum (``m.frames_in[FrameType.PUBLISH].inc()``; an ``IntEnum`` key also matches the raw
int from a frame header), so the edge never formats or looks up label values per frame. An
increment still costs about 0.5 µs (prometheus_client takes a lock), so count a batch with one
``inc(n)`` (fan-out: once per publication, not once per subscriber).

Native edge: the picows edge counts frames, bytes, deliveries, errors and latency in plain C
integers (``gb.core.edge_metrics``). :meth:`Metrics.attach_edge` joins those counts to the
families defined here: each such family is exposed once, as the sum of the native count and
whatever Python code added through the bound children.

Multi-worker: each worker process owns its own :class:`Metrics` and serves its own ``/metrics``;
Prometheus scrapes every process (one pod per process, or one port per worker) and aggregates
with ``sum by (...)``. No shared-memory multiprocess mode is used: it is slow on the hot path and
loses gauges when a worker restarts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from enum import IntEnum
from typing import Any, Protocol

import prometheus_client
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from gb import __version__
from gb.protocol.codes import CloseCode, ErrorCode, FrameType

from ._native.edge import Stats
from .edge_metrics import EdgeCollector

NAMESPACE = "gb"

PUBLISH_TO_DELIVER_BUCKETS = (
    50e-6,
    100e-6,
    250e-6,
    500e-6,
    1e-3,
    2.5e-3,
    5e-3,
    10e-3,
    25e-3,
    50e-3,
    100e-3,
    250e-3,
    500e-3,
    1.0,
    2.5,
)
"""Seconds from a PUBLISH read to its DELIVER written: 50 µs (same node) to 1 s (overload), and
2.5 s because the native edge's histogram has that bound (the two are summed bucket by bucket)."""

# The ``*_created`` series double the exposition for no use on a node; the switch is process-wide.
_disable_created: Callable[[], None] = prometheus_client.disable_created_metrics  # untyped upstream
_disable_created()

REFUSAL_REASONS = (
    "over_capacity",
    "draining",
    "auth_failed",
    "auth_timeout",
    "bad_handshake",
    "quota",
)
"""Reasons pre-bound in ``connections_refused`` (others work too, through ``.labels``)."""


class HasHealth(Protocol):
    """Anything with a ``healthy`` flag (a broker)."""

    @property
    def healthy(self) -> bool:
        """True while usable."""


class Metrics:
    """The node's metrics on a private registry; attributes are the metrics (or bound children).

    Gauges ``connections``, ``subscriptions``, ``channels``, ``broker_up``; counters
    ``bytes_in``, ``bytes_out``, ``fanout_deliveries``, ``slow_consumers_dropped``,
    ``broker_publish``, ``broker_receive``; dicts of bound counters ``frames_in`` /
    ``frames_out`` (by :class:`FrameType`), ``errors`` (by :class:`ErrorCode`), ``closes``
    (by :class:`CloseCode`), ``refused`` (by reason); histogram ``publish_to_deliver``.
    """

    def __init__(self, *, process: bool = True) -> None:
        """``process`` adds the standard process and platform collectors (memory, fds, CPU)."""
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        if process:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)
        Info("build", "Version of gb this node runs.", namespace=NAMESPACE, registry=reg).info(
            {"version": __version__}
        )

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, namespace=NAMESPACE, registry=reg)

        def counter(
            name: str, doc: str, labels: Iterable[str] = (), *, edge: bool = False
        ) -> Counter:
            # Families the native edge also counts are exposed through ``self._edge_families``.
            target = None if edge else reg
            return Counter(
                name, doc, labelnames=tuple(labels), namespace=NAMESPACE, registry=target
            )

        self.connections = gauge("connections", "Open client connections.")
        self.subscriptions = gauge("subscriptions", "Channel subscriptions of open connections.")
        self.channels = gauge("channels", "Channels with at least one local subscriber.")
        self.broker_up = gauge("broker_up", "1 while the broker connection is healthy, else 0.")

        self.frames_in_total = counter(
            "frames_in_total", "Frames read from clients.", ["type"], edge=True
        )
        self.frames_out_total = counter(
            "frames_out_total", "Frames written to clients.", ["type"], edge=True
        )
        self.errors_total = counter(
            "errors_total", "ERROR frames sent, by code.", ["code"], edge=True
        )
        self.closes_total = counter("closes_total", "Connections closed, by close code.", ["code"])
        self.connections_refused_total = counter(
            "connections_refused_total", "Connections refused before a session.", ["reason"]
        )
        self.bytes_in = counter("bytes_in_total", "Frame bytes read from clients.", edge=True)
        self.bytes_out = counter("bytes_out_total", "Frame bytes written to clients.", edge=True)
        self.fanout_deliveries = counter(
            "fanout_deliveries_total",
            "DELIVER frames written by fan-out (one per subscriber).",
            edge=True,
        )
        self.slow_consumers_dropped = counter(
            "slow_consumers_dropped_total",
            "Connections dropped because their send buffer filled.",
            edge=True,
        )
        self.broker_publish = counter("broker_publish_total", "Publications sent to the broker.")
        self.broker_receive = counter(
            "broker_receive_total", "Publications received from the broker."
        )
        self.publish_to_deliver = Histogram(
            "publish_to_deliver_seconds",
            "Seconds from a PUBLISH read to its DELIVER written.",
            namespace=NAMESPACE,
            registry=None,
            buckets=PUBLISH_TO_DELIVER_BUCKETS,
        )
        self._edge_families = _EdgeFamilies(
            [
                self.frames_in_total,
                self.frames_out_total,
                self.errors_total,
                self.bytes_in,
                self.bytes_out,
                self.fanout_deliveries,
                self.slow_consumers_dropped,
                self.publish_to_deliver,
            ]
        )
        reg.register(self._edge_families)

        self.frames_in = _bind(self.frames_in_total, FrameType)
        self.frames_out = _bind(self.frames_out_total, FrameType)
        self.errors = _bind(self.errors_total, ErrorCode)
        self.closes = _bind(self.closes_total, CloseCode)
        self.refused = {
            reason: self.connections_refused_total.labels(reason) for reason in REFUSAL_REASONS
        }

    def attach_edge(self, stats: Stats, broker: HasHealth) -> None:
        """Expose the native edge's counters (summed with ours) and the broker's health.

        Called once per node start; a later call replaces the earlier edge and broker.
        """
        self._edge_families.native = EdgeCollector(stats)
        self.broker_up.set_function(lambda: 1.0 if broker.healthy else 0.0)

    def attach_usage(self, totals: Callable[[], dict[tuple[Any, Any, str], int]]) -> None:
        """Expose metered usage per customer, instance and kind (``gb_usage_total``).

        ``totals`` gives this process's monotonic totals (``UsageRecorder.totals``); one
        series per instance and kind, so its cardinality is the node's active instances.
        """
        self.registry.register(_UsageFamily(totals))

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _bind(metric: Counter, values: Iterable[IntEnum]) -> dict[int, Counter]:
    """One child per enum member, labelled with the member's name, keyed by the member."""
    return {member: metric.labels(member.name) for member in values}


class _EdgeFamilies(Collector):
    """The families both the native edge and Python count, exposed once as their sum.

    Families the edge alone has (socket writes, rate-limited frames, accepted connections)
    pass through unchanged.
    """

    def __init__(self, own: Iterable[Collector]) -> None:
        self.own = list(own)
        self.native: Collector | None = None

    def collect(self) -> Iterator[Metric]:
        mine = {family.name: family for metric in self.own for family in metric.collect()}
        if self.native is not None:
            for family in self.native.collect():
                ours = mine.pop(family.name, None)
                yield family if ours is None else _summed(family, ours)
        yield from mine.values()


def _summed(native: Metric, ours: Metric) -> Metric:
    """``native`` with the value of each of ``ours``' samples added to the same series."""

    def key(sample: Sample) -> tuple[str, tuple[tuple[str, str], ...]]:
        return sample.name, tuple(sorted(sample.labels.items()))

    extra = {key(sample): sample.value for sample in ours.samples}
    samples = [s._replace(value=s.value + extra.pop(key(s), 0.0)) for s in native.samples]
    samples.extend(s for s in ours.samples if key(s) in extra)
    native.samples = samples
    return native


class _UsageFamily(Collector):
    """``gb_usage_total{customer, instance, kind}`` from the usage recorder's totals."""

    def __init__(self, totals: Callable[[], dict[tuple[Any, Any, str], int]]) -> None:
        self._totals = totals

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            f"{NAMESPACE}_usage",
            "Usage metered by this process, by customer, instance and kind.",
            labels=["customer", "instance", "kind"],
        )
        for (customer, instance, kind), value in sorted(
            self._totals().items(), key=lambda item: tuple(map(str, item[0]))
        ):
            family.add_metric([str(customer), str(instance or ""), kind], value)
        yield family

