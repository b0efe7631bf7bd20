"""Peer server on the ``websockets`` library (asyncio implementation, uvloop).

Every message a client sends is broadcast to every other client with
``websockets.broadcast`` (which writes to each connection without awaiting).

Usage: ``python websockets_server.py --port P``
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def _main(args: argparse.Namespace) -> None:
    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        clients.add(ws)
        try:
            async for message in ws:
                broadcast([c for c in clients if c is not ws], message)
        finally:
            clients.discard(ws)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with serve(
        handler,
        args.host,
        args.port,
        compression=None,
        max_size=2**20,
        backlog=4096,
        ping_interval=None,
    ):
        print(f"websockets broadcast server on {args.host}:{args.port}", flush=True)
        await stop.wait()


def main() -> None:
    """Parse the command line and serve until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
