"""Typed surface of the native edge (see edge.pyx)."""

from typing import Any

from picows import WSFrame, WSListener, WSTransport
from typing_extensions import disjoint_base

LATENCY_BOUNDS: tuple[float, ...]
STATE_HELLO: int

def now() -> float: ...
def wrap_frame(frame: bytes) -> bytes: ...
def abort(transport: WSTransport) -> None: ...

@disjoint_base
class Stats:
    connections_total: int
    bytes_in: int
    bytes_out: int
    writes: int
    deliveries: int
    slow_consumers: int
    rate_limited: int
    lat_sum: float
    lat_count: int
    def frames_in_by_type(self) -> dict[int, int]: ...
    def frames_out_by_type(self) -> dict[int, int]: ...
    def errors_by_code(self) -> dict[int, int]: ...
    def latency(self) -> tuple[list[int], float, int]: ...

@disjoint_base
class Flusher:
    def __init__(self, loop: Any, stats: Stats) -> None: ...
    def flush(self) -> None: ...

@disjoint_base
class Edge:
    stats: Stats
    flusher: Flusher
    handler: Any
    conns: set[Conn]
    remote: bool
    max_payload: int
    send_buffer_limit: int
    rate: float
    burst: float
    max_subscriptions: int
    loop: Any
    close_grace: float
    def __init__(
        self,
        loop: Any,
        handler: Any,
        *,
        max_payload: int,
        send_buffer_limit: int,
        rate: float,
        burst: float,
        max_subscriptions: int,
    ) -> None: ...
    def new_connection(self) -> Conn: ...
    def deliver(self, channel: Channel, ws_message: bytes, published_at: float = ...) -> int: ...

@disjoint_base
class Channel:
    channel_id: int
    name: str
    shard_key: int
    presence: dict[str, str] | None
    def __init__(self, channel_id: int, name: str, shard_key: int = ...) -> None: ...
    def __len__(self) -> int: ...
    def __contains__(self, conn: Conn, /) -> bool: ...
    def add(self, conn: Conn) -> int: ...
    def remove(self, conn: Conn) -> int: ...
    def fanout(self, data: bytes, exclude: Conn | None) -> int: ...

@disjoint_base
class Conn(WSListener):
    transport: WSTransport
    edge: Edge
    session: Any
    state: int
    shard_key: int
    subs: dict[int, Channel] | None
    readonly_subs: set[int] | None
    connected_at: float
    last_seen: float
    ping_sent: float
    expires_at: float
    timer_due: float
    def __init__(self, edge: Edge) -> None: ...
    def on_ws_connected(self, transport: WSTransport) -> None: ...
    def on_ws_disconnected(self, transport: WSTransport) -> None: ...
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None: ...
    def send_frame(
        self,
        type: int,
        payload: bytes = ...,
        flags: int = ...,
        request_id: int = ...,
        channel_id: int = ...,
    ) -> None: ...
    def send_error(
        self,
        code: int,
        message: str,
        request_id: int = ...,
        channel_id: int = ...,
        extra: dict[str, Any] | None = ...,
    ) -> None: ...
    def close(self, code: int, reason: str = ...) -> None: ...
    def authenticate(self, session: Any, shard_key: int, expires_at: float) -> None: ...
    def heartbeat(
        self, now: float, interval: float, timeout: float, hello_timeout: float
    ) -> float: ...
    @property
    def subscription_count(self) -> int: ...
