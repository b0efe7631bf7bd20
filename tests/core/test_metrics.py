"""Metrics: isolated registries, every metric exposed, pre-bound children."""

from __future__ import annotations

import re

from prometheus_client import CONTENT_TYPE_LATEST

from gb import __version__
from gb.core._native.edge import LATENCY_BOUNDS, Stats
from gb.core.metrics import PUBLISH_TO_DELIVER_BUCKETS, REFUSAL_REASONS, Metrics
from gb.protocol.codes import CloseCode, ErrorCode, FrameType

NAMES = [
    "gb_connections",
    "gb_subscriptions",
    "gb_channels",
    "gb_broker_up",
    "gb_frames_in_total",
    "gb_frames_out_total",
    "gb_bytes_in_total",
    "gb_bytes_out_total",
    "gb_fanout_deliveries_total",
    "gb_slow_consumers_dropped_total",
    "gb_errors_total",
    "gb_closes_total",
    "gb_connections_refused_total",
    "gb_broker_publish_total",
    "gb_broker_receive_total",
    "gb_publish_to_deliver_seconds",
    "gb_build_info",
]


def _text(m: Metrics) -> str:
    body, content_type = m.render()
    assert content_type == CONTENT_TYPE_LATEST
    return body.decode()


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} not exposed"
    return float(match[1])


def test_every_metric_is_exposed() -> None:
    text = _text(Metrics())
    for name in NAMES:
        assert f"# TYPE {name} " in text, name
    assert f'gb_build_info{{version="{__version__}"}} 1.0' in text
    assert "_created" not in text  # creation-time series are switched off
    assert "process_resident_memory_bytes" in text


def test_instances_are_isolated() -> None:
    a, b = Metrics(process=False), Metrics(process=False)
    a.connections.inc(3)
    a.bytes_in.inc(100)
    assert _value(_text(a), "gb_connections") == 3.0
    assert _value(_text(a), "gb_bytes_in_total") == 100.0
    assert _value(_text(b), "gb_connections") == 0.0
    assert "process_" not in _text(b)


def test_bound_children_by_enum_and_raw_int() -> None:
    m = Metrics(process=False)
    assert set(m.frames_in) == set(FrameType) and set(m.frames_out) == set(FrameType)
    assert set(m.errors) == set(ErrorCode) and set(m.closes) == set(CloseCode)
    m.frames_in[FrameType.PUBLISH].inc()
    m.frames_in[int(FrameType.PUBLISH)].inc()  # the raw type byte finds the same child
    m.frames_out[FrameType.DELIVER].inc(5)
    m.errors[ErrorCode.RATE_LIMITED].inc()
    m.closes[CloseCode.SLOW_CONSUMER].inc()
    m.refused["over_capacity"].inc()
    m.connections_refused_total.labels("bad_origin").inc()
    text = _text(m)
    assert _value(text, 'gb_frames_in_total{type="PUBLISH"}') == 2.0
    assert _value(text, 'gb_frames_in_total{type="HELLO"}') == 0.0
    assert _value(text, 'gb_frames_out_total{type="DELIVER"}') == 5.0
    assert _value(text, 'gb_errors_total{code="RATE_LIMITED"}') == 1.0
    assert _value(text, 'gb_closes_total{code="SLOW_CONSUMER"}') == 1.0
    assert _value(text, 'gb_connections_refused_total{reason="over_capacity"}') == 1.0
    assert _value(text, 'gb_connections_refused_total{reason="bad_origin"}') == 1.0
    assert set(m.refused) == set(REFUSAL_REASONS)


def test_counters_gauges_and_histogram() -> None:
    m = Metrics(process=False)
    m.subscriptions.set(7)
    m.channels.inc()
    m.broker_up.set(1)
    m.bytes_out.inc(24)
    m.fanout_deliveries.inc(1000)
    m.slow_consumers_dropped.inc()
    m.broker_publish.inc()
    m.broker_receive.inc(2)
    m.publish_to_deliver.observe(75e-6)
    m.publish_to_deliver.observe(2.0)
    text = _text(m)
    assert _value(text, "gb_subscriptions") == 7.0
    assert _value(text, "gb_channels") == 1.0
    assert _value(text, "gb_broker_up") == 1.0
    assert _value(text, "gb_bytes_out_total") == 24.0
    assert _value(text, "gb_fanout_deliveries_total") == 1000.0
    assert _value(text, "gb_slow_consumers_dropped_total") == 1.0
    assert _value(text, "gb_broker_publish_total") == 1.0
    assert _value(text, "gb_broker_receive_total") == 2.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="5e-05"}') == 0.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="0.0001"}') == 1.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="1.0"}') == 1.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="+Inf"}') == 2.0
    assert _value(text, "gb_publish_to_deliver_seconds_count") == 2.0
    assert PUBLISH_TO_DELIVER_BUCKETS[0] == 50e-6 and 1.0 in PUBLISH_TO_DELIVER_BUCKETS
    # Summed bucket by bucket with the native edge's histogram: the bounds must be the same.
    assert PUBLISH_TO_DELIVER_BUCKETS == LATENCY_BOUNDS


class Broker:
    def __init__(self) -> None:
        self.healthy = False


def test_attached_edge_counts_are_summed_with_ours() -> None:
    m = Metrics(process=False)
    stats = Stats()
    broker = Broker()
    m.attach_edge(stats, broker)
    stats.bytes_in = 1000
    stats.deliveries = 40
    stats.slow_consumers = 2
    stats.writes = 9
    stats.connections_total = 3
    stats.rate_limited = 4
    m.bytes_in.inc(24)
    m.fanout_deliveries.inc(2)
    m.frames_in[FrameType.HELLO].inc()
    m.publish_to_deliver.observe(0.3)
    text = _text(m)
    assert _value(text, "gb_bytes_in_total") == 1024.0  # native + ours, one series
    assert text.count("# TYPE gb_bytes_in_total counter") == 1
    assert _value(text, "gb_fanout_deliveries_total") == 42.0
    assert _value(text, "gb_slow_consumers_dropped_total") == 2.0
    assert _value(text, "gb_bytes_out_total") == 0.0
    assert _value(text, 'gb_frames_in_total{type="HELLO"}') == 1.0
    assert _value(text, 'gb_frames_out_total{type="PONG"}') == 0.0
    assert _value(text, "gb_socket_writes_total") == 9.0  # edge-only families pass through
    assert _value(text, "gb_connections_accepted_total") == 3.0
    assert _value(text, "gb_rate_limited_frames_total") == 4.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="0.25"}') == 0.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="0.5"}') == 1.0
    assert _value(text, 'gb_publish_to_deliver_seconds_bucket{le="+Inf"}') == 1.0
    assert _value(text, "gb_publish_to_deliver_seconds_count") == 1.0
    assert _value(text, "gb_publish_to_deliver_seconds_sum") == 0.3
    assert text.count('gb_publish_to_deliver_seconds_bucket{le="0.5"}') == 1
    # broker_up follows the broker at scrape time.
    assert _value(text, "gb_broker_up") == 0.0
    broker.healthy = True
    assert _value(_text(m), "gb_broker_up") == 1.0
