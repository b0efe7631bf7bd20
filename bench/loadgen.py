"""Client side of the benchmarks: picows connections speaking gb protocol v1 or raw bytes.

A :class:`Client` is one WebSocket connection. Against gb it sends HELLO, optionally SUBSCRIBE,
and answers the server's heartbeat PINGs; against a peer server every message counts as a
delivery. :func:`client_process` runs many of them in a separate process (the subscribers of
the fan-out, the idle connections of the connection benchmark) and talks to the parent over a
pipe and a shared counter array.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from array import array
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import orjson
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

HEADER = struct.Struct("<BBHIIIQ")
HEADER_SIZE = 24
V1 = 1
HELLO, WELCOME, SUBSCRIBE, PUBLISH, DELIVER, ACK, ERROR, PING, PONG, BATCH = (
    0x01,
    0x02,
    0x03,
    0x05,
    0x06,
    0x07,
    0x08,
    0x09,
    0x0A,
    0x0E,
)
FLAG_JSON = 0x0001
FLAG_NO_ECHO = 0x0004
SUBSCRIBE_REQUEST = 1
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
_TS = struct.Struct("<QI")


def frame(
    ftype: int, payload: bytes = b"", *, flags: int = 0, request_id: int = 0, channel_id: int = 0
) -> bytes:
    """One protocol v1 frame (the same layout as ``gb.protocol.codec.encode``)."""
    return HEADER.pack(V1, ftype, flags, len(payload), request_id, 0, channel_id) + payload


def stamped_payload(size: int, seq: int) -> bytes:
    """A payload of ``size`` bytes starting with ``monotonic_ns`` and ``seq`` (12 bytes)."""
    head = _TS.pack(time.monotonic_ns(), seq)
    return head + b"x" * (size - len(head))


def source_socket_factory(host: str, port: int, source_ip: str | None) -> Callable[..., Any]:
    """A picows socket factory connecting from ``source_ip`` (ephemeral port chosen at connect).

    ``IP_BIND_ADDRESS_NO_PORT`` defers the port choice to ``connect``, so each source address
    offers ~28k ports per destination instead of ~28k in total.
    """

    async def factory(_url: object) -> socket.socket | None:
        if source_ip is None:
            return None
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((source_ip, 0))
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    return factory


class Stats:
    """Counters shared by the clients of one process."""

    __slots__ = ("deliveries", "errors", "last_ns", "latencies")

    def __init__(self) -> None:
        self.deliveries = 0
        self.latencies: array[int] = array("q")
        self.last_ns = 0
        self.errors: list[str] = []


class Client(WSListener):
    """One connection. ``gb``: speak protocol v1; else count every binary message."""

    def __init__(
        self,
        stats: Stats,
        *,
        gb: bool,
        token: str = "",
        channel: str | None = None,
        sample: bool = False,
    ) -> None:
        self.stats = stats
        self.gb = gb
        self.token = token
        self.channel = channel
        self.sample = sample
        self.transport: WSTransport | None = None
        self.channel_id = 0
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_message: Callable[[memoryview], None] | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        if self.gb:
            hello = orjson.dumps({"token": self.token, "versions": [1]})
            transport.send(WSMsgType.BINARY, frame(HELLO, hello, flags=FLAG_JSON))
        else:
            self.ready.set_result(None)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("disconnected before ready"))

    def send(self, data: bytes) -> None:
        """Send one binary message."""
        assert self.transport is not None
        self.transport.send(WSMsgType.BINARY, data)

    def on_ws_frame(self, transport: WSTransport, wsframe: WSFrame) -> None:
        if wsframe.msg_type != WSMsgType.BINARY:
            if wsframe.msg_type == WSMsgType.CLOSE:
                code, why = wsframe.get_close_code(), wsframe.get_close_reason()
                reason = f"closed by server: {code} {why}"
                if len(self.stats.errors) < 5:
                    self.stats.errors.append(reason)
                transport.disconnect()
            return
        data = wsframe.get_payload_as_memoryview()
        if self.on_message is not None:  # echo benchmark: the caller handles every message
            self.on_message(data)
            return
        if not self.gb:
            self._deliver(data, 0)
            return
        ftype = data[1]
        if ftype == DELIVER:
            self._deliver(data, 0)
        elif ftype == BATCH:
            self._batch(bytes(data))
        else:
            self._control(bytes(data))

    def _deliver(self, data: memoryview | bytes, offset: int) -> None:
        stats = self.stats
        stats.deliveries += 1
        if self.sample:
            now = time.monotonic_ns()
            sent, _seq = _TS.unpack_from(data, offset + HEADER_SIZE)
            stats.latencies.append(now - sent)
            stats.last_ns = now

    def _batch(self, data: bytes) -> None:
        offset = HEADER_SIZE
        while offset + HEADER_SIZE <= len(data):
            ftype = data[offset + 1]
            (length,) = struct.unpack_from("<I", data, offset + 4)
            end = offset + HEADER_SIZE + length
            if ftype == DELIVER:
                self._deliver(data, offset)
            else:
                self._control(data[offset:end])
            offset = end

    def _control(self, data: bytes) -> None:
        _v, ftype, flags, length, request_id, _shard, channel_id = HEADER.unpack_from(data)
        payload = data[HEADER_SIZE : HEADER_SIZE + length]
        if ftype == PING:
            self.send(frame(PONG, payload, flags=flags & FLAG_JSON))
        elif ftype == WELCOME:
            if self.channel is None:
                self._set_ready()
            else:
                sub = orjson.dumps({"channel": self.channel})
                self.send(frame(SUBSCRIBE, sub, flags=FLAG_JSON, request_id=SUBSCRIBE_REQUEST))
        elif ftype == ACK and request_id == SUBSCRIBE_REQUEST:
            body = orjson.loads(payload) if payload else {}
            self.channel_id = int(body.get("channel_id") or channel_id)
            self._set_ready()
        elif ftype == ERROR:
            message = payload.decode(errors="replace")
            if len(self.stats.errors) < 5:
                self.stats.errors.append(message)
            if not self.ready.done():
                self.ready.set_exception(RuntimeError(f"server error: {message}"))

    def _set_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)


async def connect(
    url: str,
    stats: Stats,
    *,
    gb: bool,
    token: str = "",
    channel: str | None = None,
    sample: bool = False,
    source_ip: str | None = None,
    read_buffer: int = 2048,
    timeout: float = 15.0,
) -> Client:
    """Open one connection and wait until it is ready (WELCOMEd, and subscribed if asked)."""
    host_port = url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    transport, client = await asyncio.wait_for(
        ws_connect(
            lambda: Client(stats, gb=gb, token=token, channel=channel, sample=sample),
            url,
            socket_factory=source_socket_factory(host, int(port), source_ip),
            read_buffer_init_size=read_buffer,
            use_aiofastnet=False,
            websocket_handshake_timeout=timeout,
        ),
        timeout,
    )
    if transport.is_disconnected:
        raise ConnectionError("disconnected during the handshake")
    assert isinstance(client, Client)
    await asyncio.wait_for(client.ready, timeout)
    return client


async def open_many(
    url: str,
    n: int,
    stats: Stats,
    *,
    gb: bool,
    token: str,
    channel: str | None,
    sample_every: int,
    source_ip: str | None,
    concurrency: int,
    read_buffer: int,
    deadline: float,
) -> tuple[list[Client], int, str]:
    """Open ``n`` connections, ``concurrency`` at a time; returns (clients, failures, error)."""
    sem = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    failures = 0
    first_error = ""

    async def one(i: int) -> None:
        nonlocal failures, first_error
        async with sem:
            left = deadline - time.monotonic()
            if left <= 0:
                failures += 1
                return
            try:
                c = await connect(
                    url,
                    stats,
                    gb=gb,
                    token=token,
                    channel=channel,
                    sample=sample_every > 0 and i % sample_every == 0,
                    source_ip=source_ip,
                    read_buffer=read_buffer,
                    timeout=min(15.0, left),
                )
            except (TimeoutError, OSError, RuntimeError, ConnectionError) as exc:
                failures += 1
                first_error = first_error or f"{type(exc).__name__}: {exc}"
                return
            clients.append(c)

    await asyncio.gather(*(one(i) for i in range(n)))
    return clients, failures, first_error


def close_all(clients: list[Client]) -> None:
    """Close every connection (WebSocket close, then drop the socket)."""
    for c in clients:
        if c.transport is not None and not c.transport.is_disconnected:
            with contextlib.suppress(Exception):
                c.transport.send_close()
                c.transport.disconnect()


def client_process(
    pipe: Connection,
    index: int,
    url: str,
    n: int,
    opts: dict[str, Any],
    *,
    counts: Any,
    done_ns: Any,
) -> None:
    """Entry point of a client process (multiprocessing target).

    Protocol with the parent over ``pipe``: the child sends ``("ready", ok, failed,
    connect_s, error)`` once its connections are open; then, any number of times, the parent
    sends ``("expect", m)`` (each connection will get ``m`` more deliveries: record the time
    the last one lands in ``done_ns[index]``), answered with ``("expecting",)``, and
    ``("collect",)``, answered with ``("latencies", samples)`` (cleared after); at the end
    ``("stop",)`` is answered with ``("result", latencies, cpu_s, errors, still_open)``.
    ``counts[index]`` carries the running delivery count.
    """
    import uvloop

    uvloop.run(_client_main(pipe, index, url, n, opts, counts=counts, done_ns=done_ns))


async def _client_main(
    pipe: Connection,
    index: int,
    url: str,
    n: int,
    opts: dict[str, Any],
    *,
    counts: Any,
    done_ns: Any,
) -> None:
    loop = asyncio.get_running_loop()
    stats = Stats()
    parent = os.getppid()
    stop = asyncio.Event()
    expected = [-1]
    hard_deadline = time.monotonic() + float(opts.get("max_seconds", 300))

    def reply(msg: tuple[Any, ...]) -> None:
        # The loop watches the pipe and makes it non-blocking; a large reply must block.
        os.set_blocking(pipe.fileno(), True)
        pipe.send(msg)

    def on_pipe() -> None:
        try:
            msg = pipe.recv()
        except (EOFError, OSError):
            stop.set()
            return
        if msg[0] == "expect":
            counts[index] = stats.deliveries
            expected[0] = stats.deliveries + int(msg[1]) * len(clients)
            done_ns[index] = 0
            reply(("expecting",))
        elif msg[0] == "collect":
            reply(("latencies", stats.latencies.tobytes()))
            del stats.latencies[:]
        elif msg[0] == "stop":
            stop.set()

    def tick() -> None:
        # Publish the running count; watch for a vanished parent and the hard deadline.
        counts[index] = stats.deliveries
        if expected[0] >= 0 and stats.deliveries >= expected[0] and done_ns[index] == 0:
            done_ns[index] = time.monotonic_ns()
        if os.getppid() != parent or time.monotonic() > hard_deadline:
            stop.set()
        if not stop.is_set():
            loop.call_later(0.001, tick)

    clients: list[Client] = []
    started = time.monotonic()
    clients, failed, error = await open_many(
        url,
        n,
        stats,
        gb=bool(opts["gb"]),
        token=str(opts.get("token", "")),
        channel=opts.get("channel"),
        sample_every=int(opts.get("sample_every", 0)),
        source_ip=opts.get("source_ip"),
        concurrency=int(opts.get("concurrency", 100)),
        read_buffer=int(opts.get("read_buffer", 2048)),
        deadline=started + float(opts.get("connect_timeout", 90)),
    )
    connect_s = time.monotonic() - started
    pipe.send(("ready", len(clients), failed, connect_s, error))
    loop.add_reader(pipe.fileno(), on_pipe)
    tick()
    await stop.wait()
    counts[index] = stats.deliveries
    still_open = sum(1 for c in clients if c.transport and not c.transport.is_disconnected)
    close_all(clients)
    await asyncio.sleep(0.2)
    t = os.times()
    with contextlib.suppress(OSError):
        reply(("result", stats.latencies.tobytes(), t.user + t.system, stats.errors, still_open))


class ClientGroup:
    """Client processes run from the parent: start, wait ready, expect, stop, collect.

    Process ``i`` opens ``sizes[i]`` connections from source address ``127.0.0.<2+i>``.
    """

    def __init__(self, url: str, sizes: list[int], opts: dict[str, Any]) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self.counts = ctx.RawArray("q", len(sizes))
        self.done_ns = ctx.RawArray("q", len(sizes))
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        self.sizes = sizes
        for i, n in enumerate(sizes):
            parent_end, child_end = ctx.Pipe()
            p_opts = dict(opts, source_ip=f"127.0.0.{2 + i}")
            proc = ctx.Process(
                target=client_process,
                args=(child_end, i, url, n, p_opts),
                kwargs={"counts": self.counts, "done_ns": self.done_ns},
                daemon=True,
            )
            proc.start()
            child_end.close()
            self.pipes.append(parent_end)
            self.procs.append(proc)
        self.ok = 0
        self.failed = 0
        self.connect_s = 0.0
        self.errors: list[str] = []
        self.still_open = 0  # connections still open when the processes were told to stop
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        """Block until every process reported its connections open (or raise on timeout)."""
        deadline = time.monotonic() + timeout
        for pipe, proc in zip(self.pipes, self.procs, strict=True):
            while not pipe.poll(0.2):
                if not proc.is_alive():
                    raise RuntimeError(f"client process exited with {proc.exitcode}")
                if time.monotonic() > deadline:
                    raise TimeoutError("client processes did not get ready in time")
            _tag, ok, failed, connect_s, error = pipe.recv()
            self.ok += ok
            self.failed += failed
            self.connect_s = max(self.connect_s, connect_s)
            if error:
                self.errors.append(error)
        self.ready = True

    def expect(self, messages: int, timeout: float = 10.0) -> int:
        """Tell every process how many more deliveries each connection should get.

        Returns the delivery count before this phase (the base of :meth:`delivered`).
        """
        for pipe in self.pipes:
            pipe.send(("expect", messages))
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a client process did not acknowledge the phase")
            pipe.recv()
        return self.delivered()

    def collect(self, timeout: float = 10.0) -> list[int]:
        """The latency samples (ns) of the phase that just ended, from every process."""
        samples: array[int] = array("q")
        for pipe in self.pipes:
            pipe.send(("collect",))
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise TimeoutError("a client process did not send its samples")
            samples.frombytes(pipe.recv()[1])
        return list(samples)

    def delivered(self) -> int:
        """Deliveries counted so far over all processes (updated every millisecond)."""
        return sum(self.counts)

    def all_done(self) -> bool:
        """True when every process has seen all its expected deliveries."""
        return all(self.done_ns)

    def pids(self) -> list[int]:
        """Process ids of the client processes."""
        return [p.pid for p in self.procs if p.pid is not None]

    def stop(self, timeout: float = 20.0) -> tuple[list[int], float]:
        """Stop the processes; returns (latency samples in ns, client CPU seconds)."""
        latencies: array[int] = array("q")
        cpu = 0.0
        if not self.ready:  # aborted while connecting: nothing to collect
            self.kill(grace=0.0)
            return [], cpu
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop",))
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            with contextlib.suppress(OSError, EOFError):
                while pipe.poll(max(0.1, deadline - time.monotonic())):
                    msg = pipe.recv()
                    if msg[0] != "result":  # an answer to an earlier request
                        continue
                    _tag, lat, cpu_s, errors, still_open = msg
                    latencies.frombytes(lat)
                    cpu += cpu_s
                    self.errors.extend(errors)
                    self.still_open += still_open
                    break
        self.kill()
        return list(latencies), cpu

    def kill(self, grace: float = 2.0) -> None:
        """Make sure no client process is left running."""
        for proc in self.procs:
            proc.join(timeout=grace)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()
