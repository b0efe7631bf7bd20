"""Broker over Redis pub/sub (``redis.asyncio``): sharded pub/sub on Redis >= 7, plain before.

Two kinds of connection per node:

- one **subscriber** connection read by one reader task. Subscribe/unsubscribe commands are
  written on it and confirmed in order (a FIFO of waiters, one per command), messages go to the
  handler from the reader task. When the connection breaks, or stays silent through a PING
  probe, the reader marks the broker unhealthy, reconnects with capped exponential backoff and
  re-subscribes every recorded topic before it is healthy again.
- a small **publisher** pool: ``publish`` queues the message and one flusher task sends all the
  messages queued during a loop tick as one pipeline, so a burst costs one round trip. Batches
  go out one after another, which keeps one publisher's order per topic.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections import deque
from typing import Any, Final

from redis.asyncio import Redis
from redis.asyncio.connection import AbstractConnection, Connection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import Broker, BrokerUnavailable

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

_NETWORK_ERRORS: Final = (RedisConnectionError, RedisTimeoutError, OSError)
"""Errors that mean "the server is unreachable" (the builtin TimeoutError is an OSError)."""

_MESSAGE_KINDS: Final = (b"message", b"smessage")
_READY: Final = "ready"
"""Ack marker after the re-subscribe commands: its reply means the connection is in service."""

_Ack = asyncio.Future[None] | str | None
"""What the reader resolves on a command reply: a waiter, the ready marker, or nothing."""


def _client_name(node_id: str) -> str:
    """``node_id`` as a valid CLIENT SETNAME value (printable ASCII without spaces)."""
    return re.sub(r"[^!-~]", "_", node_id)


class RedisBroker(Broker):
    """Broker over one Redis server (standalone; topic names are used as given).

    ``sharded=None`` detects sharded pub/sub (``SPUBLISH``/``SSUBSCRIBE``) once at start with
    ``COMMAND INFO SPUBLISH``; ``True``/``False`` force it. Sharded pub/sub scales out on a
    Redis Cluster because a message only travels within the shard that owns its topic's slot,
    which is why topics carry hash tags (``gb:ch:{<hex id>}``).

    Timeouts bound every wait: ``connect_timeout`` for connecting (and for ``start``),
    ``command_timeout`` for a publish batch or a subscribe confirmation, ``ping_interval`` for
    the keepalive (a silent connection is probed with PING and dropped if the probe is not
    answered within another ``ping_interval``). Reconnect backoff doubles from
    ``backoff_min`` to ``backoff_max`` with jitter.
    """

    name = "redis"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379",
        node_id: str = "redis",
        *,
        sharded: bool | None = None,
        connect_timeout: float = 2.0,
        command_timeout: float = 5.0,
        ping_interval: float = 5.0,
        backoff_min: float = 0.05,
        backoff_max: float = 2.0,
    ) -> None:
        super().__init__(node_id)
        self.url = url
        self.sharded = sharded
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._ping_interval = ping_interval
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        # At most once: a failed publish is never re-sent (retries=0), so it cannot duplicate.
        self._client: Redis = Redis.from_url(
            url,
            protocol=2,
            socket_connect_timeout=connect_timeout,
            socket_timeout=command_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"gb-pub-{_client_name(node_id)}",
        )
        self._conn: AbstractConnection | None = None
        self._acks: deque[_Ack] = deque()
        self._healthy = False
        self._up = asyncio.Event()
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._inflight: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        """True while the subscriber connection is up with every topic subscribed."""
        return self._healthy

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, detect sharded pub/sub, subscribe the recorded topics; healthy on return.

        Raises BrokerUnavailable within ``connect_timeout`` if the server cannot be reached
        (``start`` may then be called again).
        """
        self._begin_start()
        try:
            conn = await self._connect()
            self._tasks = [
                asyncio.create_task(self._run(conn), name=f"gb-broker-reader-{self.node_id}"),
                asyncio.create_task(self._flush_forever(), name=f"gb-broker-flush-{self.node_id}"),
            ]
            await asyncio.wait_for(self._up.wait(), self._connect_timeout)
        except _NETWORK_ERRORS as exc:
            await self._stop_tasks()
            self._started = False
            raise BrokerUnavailable(f"redis broker {self.node_id!r}: {self.url}: {exc}") from exc

    async def close(self) -> None:
        """Stop the reader and the flusher, fail pending publishes, disconnect. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._stop_tasks()
        closed = BrokerUnavailable(f"redis broker {self.node_id!r} closed")
        for _, _, future in self._inflight + self._pending:
            if not future.done():
                future.set_exception(closed)
        self._pending.clear()
        self._topics.clear()
        await self._client.aclose()

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    # -- publish ---------------------------------------------------------------------------

    async def publish(self, topic: str, data: bytes) -> None:
        """Queue ``data`` for the next pipeline and wait until Redis accepted it.

        Raises BrokerUnavailable at once while unhealthy, or if the batch could not be sent;
        a ResponseError from Redis (e.g. a command denied by ACL) is raised as is.
        """
        if not self._healthy:
            raise BrokerUnavailable(f"redis broker {self.node_id!r} is not connected")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((topic, data, future))
        self._wakeup.set()
        await future

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._inflight, self._pending = self._pending, []
            await self._flush(self._inflight)
            self._inflight = []

    async def _flush(self, batch: list[tuple[str, bytes, asyncio.Future[None]]]) -> None:
        command = "SPUBLISH" if self.sharded else "PUBLISH"
        pipe = self._client.pipeline(transaction=False)
        for topic, data, _ in batch:
            pipe.execute_command(command, topic, data)
        results: list[Any]
        try:
            results = await pipe.execute(raise_on_error=False)
        except Exception as exc:
            error = BrokerUnavailable(str(exc)) if isinstance(exc, _NETWORK_ERRORS) else exc
            results = [error] * len(batch)
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():
                continue  # the publisher was cancelled; the message may still have gone out
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                self.published += 1
                future.set_result(None)

    # -- subscribe -------------------------------------------------------------------------

    async def subscribe(self, topic: str) -> None:
        """Record ``topic`` and, when connected, wait for Redis to confirm it.

        Raises BrokerUnavailable if the confirmation does not come within ``command_timeout``
        (the topic stays recorded and is re-applied on reconnect), and ResponseError if Redis
        refuses the command (the topic is then forgotten).
        """
        if self._closed:
            raise BrokerUnavailable(f"redis broker {self.node_id!r} is closed")
        self._topics.add(topic)
        try:
            await self._command("SSUBSCRIBE" if self.sharded else "SUBSCRIBE", topic)
        except ResponseError:
            self._topics.discard(topic)
            raise

    async def unsubscribe(self, topic: str) -> None:
        """Forget ``topic`` (no more delivery from now on) and tell Redis when connected."""
        self._topics.discard(topic)
        await self._command("SUNSUBSCRIBE" if self.sharded else "UNSUBSCRIBE", topic)

    async def _command(self, command: str, topic: str) -> None:
        conn = self._conn
        if conn is None or not conn.is_connected:
            return  # recorded in self._topics; _attach applies it on reconnect
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._acks.append(waiter)
        try:
            await conn.send_packed_command(conn.pack_command(command, topic), check_health=False)
            await asyncio.wait_for(waiter, self._command_timeout)
        except _NETWORK_ERRORS as exc:
            raise BrokerUnavailable(f"redis broker {self.node_id!r}: {command} {exc!r}") from exc

    # -- subscriber connection -------------------------------------------------------------

    def _new_connection(self) -> AbstractConnection:
        options: dict[str, Any] = dict(parse_url(self.url))
        connection_class = options.pop("connection_class", Connection)
        # No socket timeout: the reader waits for messages as long as the keepalive allows.
        conn: AbstractConnection = connection_class(
            **options,
            protocol=2,
            socket_timeout=None,
            socket_connect_timeout=self._connect_timeout,
            retry=Retry(NoBackoff(), 0),
            client_name=f"gb-sub-{_client_name(self.node_id)}",
        )
        return conn

    async def _connect(self) -> AbstractConnection:
        """Open a subscriber connection (bounded by ``connect_timeout``); detect sharding."""
        conn = self._new_connection()
        try:
            async with asyncio.timeout(self._connect_timeout):
                await conn.connect()  # type: ignore[no-untyped-call]  # untyped in redis-py
                self.sharded = await self._sharded_on(conn)
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        return conn

    async def _sharded_on(self, conn: AbstractConnection) -> bool:
        """The forced choice, else whether the server knows SPUBLISH (Redis >= 7.0)."""
        if self.sharded is not None:
            return self.sharded
        await conn.send_command("COMMAND", "INFO", "SPUBLISH")
        info: Any = await conn.read_response()
        return bool(info != [None])  # [None]: unknown (or renamed away) command

    async def _run(self, conn: AbstractConnection) -> None:
        """The reader task: serve one connection until it breaks, reconnect, repeat."""
        while True:
            try:
                await self._attach(conn)
                await self._read(conn)
            except _NETWORK_ERRORS as exc:
                log.warning("redis broker %r: lost connection (%s)", self.node_id, exc)
            finally:
                await self._detach(conn)
            conn = await self._reconnect()

    async def _attach(self, conn: AbstractConnection) -> None:
        """Make ``conn`` current and re-subscribe every recorded topic, then a PING.

        The commands are written before the first await, so any subscribe/unsubscribe issued
        from now on is written (and confirmed) after them, in FIFO order.
        """
        self._conn = conn
        command = "SSUBSCRIBE" if self.sharded else "SUBSCRIBE"
        packed: list[bytes] = []
        # One topic per command: in a cluster each SSUBSCRIBE must stay within one slot.
        for topic in sorted(self._topics):
            packed += conn.pack_command(command, topic)
            self._acks.append(None)
        packed += conn.pack_command("PING")
        self._acks.append(_READY)
        await conn.send_packed_command(packed, check_health=False)

    async def _read(self, conn: AbstractConnection) -> None:
        """Read replies until the connection fails; a silent connection is probed with PING."""
        probing = False
        while True:
            # The timeout is caught in this frame, not in redis-py's: Python 3.11 stops tracing
            # (coverage) of a frame after a cancellation thrown through it is caught below it.
            try:
                async with asyncio.timeout(self._ping_interval):
                    reply = await conn.read_response(timeout=math.inf, disconnect_on_error=False)
            except TimeoutError:
                reply = None  # nothing within ping_interval; the parser keeps partial input
            except ResponseError as error:
                self._on_ack(error)
                continue
            if reply is not None:
                probing = False
                self._on_reply(reply)
                continue
            if probing:
                raise RedisTimeoutError(f"no reply to PING within {self._ping_interval}s")
            probing = True
            self._acks.append(None)
            await conn.send_packed_command(conn.pack_command("PING"), check_health=False)

    def _on_reply(self, reply: Any) -> None:
        if isinstance(reply, list) and reply[0] in _MESSAGE_KINDS:
            self._dispatch(reply[1].decode(), reply[2])
        else:
            self._on_ack(None)  # (s)subscribe/(s)unsubscribe confirmation or pong

    def _on_ack(self, error: ResponseError | None) -> None:
        """Resolve the oldest command waiter with the reply that just arrived."""
        waiter = self._acks.popleft() if self._acks else None
        if error is not None:
            log.error("redis broker %r: subscriber command failed: %s", self.node_id, error)
        if waiter == _READY:
            self._healthy = True
            self._up.set()
        elif isinstance(waiter, asyncio.Future) and not waiter.done():
            if error is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(error)

    async def _detach(self, conn: AbstractConnection) -> None:
        """Forget ``conn``; waiting subscribers return (their topics are re-applied later)."""
        self._healthy = False
        self._up.clear()
        self._conn = None
        acks, self._acks = self._acks, deque()
        for waiter in acks:
            if isinstance(waiter, asyncio.Future) and not waiter.done():
                waiter.set_result(None)
        await conn.disconnect(nowait=True)

    async def _reconnect(self) -> AbstractConnection:
        """Connect again with capped exponential backoff and jitter; never gives up."""
        delay = self._backoff_min
        while True:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._backoff_max)
            try:
                conn = await self._connect()
            except Exception as exc:  # whatever it is, the reader must live to retry
                log.debug("redis broker %r: reconnect failed: %s", self.node_id, exc)
                continue
            self.reconnects += 1
            log.info("redis broker %r: reconnected to %s", self.node_id, self.url)
            return conn
