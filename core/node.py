"""One gb node process: the picows WebSocket edge and the REST control plane on one loop.

Start order: native build check → broker → WebSocket listener → HTTP listener. Stop order on
SIGTERM (drain): readiness turns false, the WebSocket listener stops accepting, every client
is closed with DRAINING (4006, "reconnect elsewhere"), the node waits up to
``drain_timeout`` for the sockets to end, then stops the HTTP listener and the broker.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import signal
import socket
import time
from typing import Any

import picows
import uvicorn

import gb
from gb.protocol.codec import HEADER_SIZE
from gb.protocol.codes import CloseCode

from . import native
from .api.app import create_app
from .api.routers import include_all
from .auth import Authenticator
from .broker import Broker, create_broker
from .config import Settings
from .hub import Hub
from .messaging import rest as messaging_rest
from .messaging.runtime import Messaging
from .metrics import Metrics
from .rpc import RpcRegistry
from .rpc_builtin import register_builtins
from .session import ResumeTokens
from .storage.database import Database
from .storage.partitions import ensure_partitions
from .tenancy.counters import Counters, MemoryCounters, RedisCounters
from .tenancy.metering import UsageRecorder, rollup
from .tenancy.quotas import Quotas
from .tenant_gate import TenantGate

log = logging.getLogger("gb.node")

# picows logs every connect and disconnect at INFO: per-connection noise (and cost) at scale.
PICOWS_LOG = logging.getLogger("gb.picows")
PICOWS_LOG.setLevel(logging.WARNING)
LEASE_REFRESH_S = 10.0  # well within the 30 s lease of shared quota counters
MAINTENANCE_EVERY = 60  # housekeeping rounds (10 min): partitions ahead, usage roll-up
READ_BUFFER_INIT = 1024  # picows grows it on demand; a small start keeps idle connections lean
WS_PATH = b"/ws"


class Node:
    """A gb node; also the ``NodeView`` the control plane reads."""

    def __init__(
        self,
        settings: Settings,
        *,
        broker: Broker | None = None,
        reuse_port: bool = False,
        database: Database | None = None,
        housekeeping_interval: float = LEASE_REFRESH_S,
        messaging: bool = True,
    ) -> None:
        self.settings = settings
        # With a database the node is tenancy-aware: sessions must name a known customer and
        # instance, connection quotas apply, usage is metered, the tenancy REST API is served.
        self.database = database
        self.counters: Counters | None = None
        self.quotas: Quotas | None = None
        self.recorder: UsageRecorder | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        self._stop_housekeeping = asyncio.Event()
        self.housekeeping_interval = housekeeping_interval
        # Messaging needs the database; ``messaging=False`` leaves it out (workers sharing
        # one embedded log directory cannot each own it).
        self.want_messaging = messaging and database is not None
        self.messaging: Messaging | None = None
        self.native = native.load()
        self.node_id = settings.node_id
        self.version = gb.__version__
        self.metrics = Metrics()
        self.broker = broker or create_broker(settings.broker, settings.redis_url, settings.node_id)
        self.rpc = RpcRegistry()
        self.reuse_port = reuse_port
        self.draining = False
        self.started_at = time.time()
        self.ws_port = 0
        self.http_port = 0
        self.hub: Hub | None = None
        self._ws_server: asyncio.Server | None = None
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopped = asyncio.Event()

    # --- NodeView -------------------------------------------------------------------------

    @property
    def connection_count(self) -> int:
        return 0 if self.hub is None else len(self.hub.edge.conns)

    @property
    def channel_count(self) -> int:
        return 0 if self.hub is None else len(self.hub.channels)

    async def readiness(self) -> dict[str, bool]:
        """Per-part readiness for ``/readyz``."""
        return {
            "edge": self._ws_server is not None and self._ws_server.is_serving(),
            "broker": self.broker.healthy,
        }

    @property
    def ws_url(self) -> str:
        return f"ws://{self.settings.host}:{self.ws_port}/ws"

    @property
    def http_url(self) -> str:
        return f"http://{self.settings.host}:{self.http_port}"

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind both listeners and begin serving."""
        s = self.settings
        loop = asyncio.get_running_loop()
        gate = self._start_tenancy() if self.database is not None else None
        self.hub = Hub(
            loop=loop,
            authenticator=Authenticator(s),
            broker=self.broker,
            metrics=self.metrics,
            rpc=self.rpc,
            resume=ResumeTokens((s.jwt_secret or s.jwt_public_key or "").encode()),
            node_id=s.node_id,
            max_payload=s.max_payload,
            send_buffer_limit=s.send_buffer_limit,
            rate=float(s.rate_limit),
            burst=float(s.rate_burst),
            max_subscriptions=s.max_subscriptions,
            max_connections=s.max_connections,
            heartbeat_interval=s.heartbeat_interval,
            heartbeat_timeout=s.heartbeat_timeout,
            hello_timeout=s.hello_timeout,
            gate=gate,
        )
        self.metrics.attach_edge(self.hub.edge.stats, self.broker)
        await self.broker.start()  # after the hub: it registers the broker's message handler
        register_builtins(self.rpc, self)
        if self.want_messaging:
            assert self.database is not None
            self.messaging = Messaging(
                s,
                self.database,
                self.hub,
                quotas=self.quotas,
                recorder=self.recorder,
                registry=self.metrics.registry,
            )
            await self.messaging.start()
        self._ws_server = await picows.ws_create_server(
            self._listener_factory,
            s.host,
            s.ws_port,
            websocket_handshake_timeout=s.hello_timeout,
            enable_auto_pong=True,
            max_frame_size=s.max_payload + HEADER_SIZE,
            read_buffer_init_size=READ_BUFFER_INIT,
            use_aiofastnet=False,  # aiofastnet busy-loops at fd exhaustion (machine facts)
            # Given a Logger, picows makes a child Logger per connection (~600 B each); an
            # adapter is used as is.
            logger_name=logging.LoggerAdapter(PICOWS_LOG),
            reuse_port=self.reuse_port,
            backlog=4096,
        )
        self.ws_port = self._ws_server.sockets[0].getsockname()[1]
        await self._start_http()
        self._schedule_timers()
        log.info(
            "gb node %s serving WebSocket %s and HTTP %s", self.node_id, self.ws_url, self.http_url
        )

    async def _start_http(self) -> None:
        s = self.settings
        app = create_app(self, self.metrics)
        if self.database is not None:
            assert self.hub is not None
            app.state.db = self.database
            app.state.quotas = self.quotas
            app.state.authenticator = self.hub.auth
            include_all(app)
            if self.messaging is not None:
                messaging_rest.install(app, self.messaging.service)
        sock = socket.socket(socket.AF_INET6 if ":" in s.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((s.host, s.http_port))
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            loop="none",
            http="httptools",
            lifespan="off",
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=2,
        )
        config.load()
        self._http = uvicorn.Server(config)
        # Server.serve() would install its own SIGINT/SIGTERM handlers; we run its parts.
        self._http.lifespan = config.lifespan_class(config)
        await self._http.startup(sockets=[sock])
        # main_loop only ticks uvicorn's clock (Date header) until should_exit.
        self._http_task = asyncio.get_running_loop().create_task(self._http.main_loop())

    def _start_tenancy(self) -> TenantGate:
        assert self.database is not None
        s = self.settings
        if s.broker == "redis":  # several nodes: quota counters shared through Redis
            self.counters = RedisCounters(s.redis_url, holder=s.node_id)
        else:
            self.counters = MemoryCounters()
        self.quotas = Quotas(self.database, self.counters)
        self.recorder = UsageRecorder(self.database)
        self.metrics.attach_usage(self.recorder.totals)
        self._housekeeping = asyncio.get_running_loop().create_task(self._housekeep())
        return TenantGate(self.quotas, self.recorder)

    async def _housekeep(self) -> None:
        """Usage flushes; this node's leases on shared quota counters; every so often the
        partitions ahead and today's usage roll-up (both idempotent, safe on every node)."""
        assert self.recorder is not None and self.counters is not None
        recorder = asyncio.ensure_future(self.recorder.run(self._stop_housekeeping))
        rounds = 0
        while not self._stop_housekeeping.is_set():
            try:
                await asyncio.wait_for(self._stop_housekeeping.wait(), self.housekeeping_interval)
            except TimeoutError:
                rounds += 1
                await self._housekeeping_round(rounds % MAINTENANCE_EVERY == 0)
        await recorder
        await self.recorder.close()

    async def _housekeeping_round(self, maintenance: bool) -> None:
        assert self.counters is not None and self.database is not None
        try:
            await self.counters.refresh()
            if maintenance:
                today = datetime.datetime.now(datetime.UTC).date()
                for shard in await self.database.shards():
                    async with self.database.maintenance(shard.id) as conn:
                        await ensure_partitions(conn, today=today)
                await rollup(self.database, today - datetime.timedelta(days=1))
                await rollup(self.database, today)
        except Exception:  # a dependency away: the next round tries again
            log.warning("housekeeping round failed", exc_info=True)

    def _listener_factory(self, request: Any) -> Any:
        if request.path.split(b"?", 1)[0] != WS_PATH:
            return None  # picows answers 404
        if self.draining:
            self.metrics.refused["draining"].inc()
            return picows.WSUpgradeResponse.create_error_response(503, b"draining")
        assert self.hub is not None
        return self.hub.edge.new_connection()

    def _schedule_timers(self) -> None:
        assert self.hub is not None
        self.hub.run_timers()
        self._timer = asyncio.get_running_loop().call_later(
            self.hub.wheel.tick, self._schedule_timers
        )

    async def drain(self) -> None:
        """Stop accepting, ask every client to reconnect elsewhere, wait, then stop."""
        if self.draining:
            return
        self.draining = True
        assert self.hub is not None and self._ws_server is not None
        log.info("draining: %d connections", len(self.hub.edge.conns))
        self.hub.accepting = False
        self._ws_server.close()
        self.hub.close_all(CloseCode.DRAINING, "node draining, reconnect elsewhere")
        try:
            await asyncio.wait_for(self.hub.drained.wait(), self.settings.drain_timeout)
        except TimeoutError:
            log.warning("drain timeout: %d connections cut", len(self.hub.edge.conns))
        for conn in list(self.hub.edge.conns):  # clients that never answered the close
            conn.transport.disconnect(False)
        await self.stop()

    async def stop(self) -> None:
        """Stop at once (no drain): listeners, timers, background tasks, broker."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._ws_server is not None:
            self._ws_server.close()
        if self.hub is not None:
            for conn in list(self.hub.edge.conns):
                conn.transport.disconnect(False)
            await self.hub.wait_tasks()
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            await self._http.shutdown()
            self._http = None
        if self.messaging is not None:
            await self.messaging.close()
            self.messaging = None
        if self._housekeeping is not None:
            self._stop_housekeeping.set()
            await self._housekeeping  # the recorder flushes what is pending
            self._housekeeping = None
        if self.counters is not None:
            await self.counters.close()
        await self.broker.close()
        self._stopped.set()

    async def run(self) -> None:
        """Serve until SIGTERM or SIGINT, then drain."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: loop.create_task(self.drain()))
        await self._stopped.wait()
        log.info("node %s stopped", self.node_id)
