"""Bare picows peer server: broadcast or echo, nothing else.

``broadcast``: every message a client sends is sent to every other connected client, one
``send`` per client (the same loop a hub runs, without a protocol, auth or channels).
``echo``: every message is sent back to its sender.

Usage: ``python picows_server.py --port P --mode broadcast|echo [--read-buffer 1024]``
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class _Broadcast(WSListener):
    def __init__(self, clients: set[WSTransport]) -> None:
        self.clients = clients

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.clients.add(transport)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.clients.discard(transport)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type != WSMsgType.BINARY:
            return
        data = frame.get_payload_as_bytes()
        for client in self.clients:
            if client is not transport:
                client.send(WSMsgType.BINARY, data)


class _Echo(WSListener):
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type == WSMsgType.BINARY:
            transport.send(WSMsgType.BINARY, frame.get_payload_as_memoryview())


async def _main(args: argparse.Namespace) -> None:
    clients: set[WSTransport] = set()

    def factory(_request: object) -> WSListener:
        return _Broadcast(clients) if args.mode == "broadcast" else _Echo()

    server = await ws_create_server(
        factory,
        args.host,
        args.port,
        read_buffer_init_size=args.read_buffer,
        use_aiofastnet=False,
        backlog=4096,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"picows {args.mode} server on {args.host}:{args.port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=("broadcast", "echo"), default="broadcast")
    parser.add_argument("--read-buffer", type=int, default=1024)
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
