"""No acknowledged message lost: three real ``gb serve`` processes, Redis, a Kafka-protocol
broker and PostgreSQL; one node is killed with SIGKILL in the middle of the stream.

Every simulated user sends its share of a bounded stream with its own client keys and keeps
what it was told (an ACK, or an error). It reads live events like a real client: its recovery
cursor per conversation moves only over proven ground — a live event whose ``prev`` is the
cursor, or a recovery answer (positions are log offsets and skip numbers, so a gap cannot be
seen from positions alone). A user whose node dies reconnects to another node, sends again what
was not acknowledged (same client key), re-subscribes and recovers from its cursors.
At the end:

- every acknowledged message is in PostgreSQL exactly once, and no client key has two rows;
- every member of a conversation has every acknowledged message of it, in position order, with
  no duplicate (live deliveries plus recovery);
- no message is reported as sent that is not in PostgreSQL.

``GBTEST_RELIABILITY_MESSAGES`` sets the stream's size: 3,000 by default (the machine has two
cores that also run the three nodes, the broker and PostgreSQL), 20,000 or 50,000 for long runs.
"""

import asyncio
import contextlib
import os
import signal
import uuid
from dataclasses import dataclass, field

import orjson
import pytest

from gb.client import Client, ConnectionClosed, GbError, Timeline, connect
from gb.core.storage.database import Database
from gb.protocol.codes import ErrorCode

from ...core.test_node_cluster import gb_serve, stop, tenant_tokens, wait_ready
from ...support.pg import control_db
from ...support.services import SHARED_REDIS_URL
from ...support.tansu import own_tansu

__all__ = ["control_db", "own_tansu"]  # fixtures, used by name

MESSAGES = int(os.environ.get("GBTEST_RELIABILITY_MESSAGES", "3000"))
USERS = 6  # two per node
CONVERSATIONS = 3  # everybody is a member of every conversation
RETRYABLE = {ErrorCode.UNAVAILABLE, ErrorCode.RATE_LIMITED}


@dataclass
class User:
    name: str
    token: str
    node: int
    client: Client | None = None
    timeline: Timeline = field(default_factory=Timeline)
    acked: dict[str, dict] = field(default_factory=dict)  # client key -> send result
    refused: int = 0
    reconnects: int = 0
    readers: list[asyncio.Task] = field(default_factory=list)

    def seen(self, conv: str) -> dict[str, int]:
        return {m["id"]: p for p, m in self.timeline.messages.get(conv, {}).items()}


async def attach(user: User, urls: list[str], conversations: list[str]) -> None:
    """Connect to the user's node (or the next live one), subscribe, recover what was missed."""
    for reader in user.readers:
        reader.cancel()
    user.readers.clear()
    for _ in range(len(urls) * 20):
        try:
            user.client = await connect(urls[user.node], user.token)
            break
        except (OSError, ConnectionClosed, GbError, TimeoutError):
            user.node = (user.node + 1) % len(urls)
            await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{user.name} found no live node")
    for conv in conversations:
        sub = await user.client.subscribe(f"conv:{conv}")
        user.readers.append(asyncio.create_task(read(user, sub)))
    # Whatever happened while away is unknown: recover every conversation (the repairer goes
    # on until the answers are complete; sending does not wait for it).
    user.timeline.stale.update(conversations)
    with contextlib.suppress(ConnectionClosed, GbError, TimeoutError, OSError):
        await user.timeline.recover(user.client)


async def read(user: User, sub) -> None:
    async for delivery in sub:
        user.timeline.on_event(orjson.loads(delivery.payload))


async def recover(user: User, conversations: list[str]) -> None:
    """Ask for everything after the cursors until nothing is missing."""
    assert user.client is not None
    deadline = asyncio.get_running_loop().time() + 180
    while asyncio.get_running_loop().time() < deadline:
        if await user.timeline.recover(user.client, conversations):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{user.name}: recovery never complete")


async def repair(user: User) -> None:
    """Recover conversations with an unproven gap now and then, as a client app would."""
    while True:
        await asyncio.sleep(0.5)
        if user.timeline.stale and user.client is not None:
            with contextlib.suppress(ConnectionClosed, GbError, TimeoutError, OSError):
                await user.timeline.recover(user.client)


async def send_all(user: User, urls: list[str], conversations: list[str], count: int) -> None:
    for i in range(count):
        key = f"{user.name}-{i}"
        conv = conversations[i % len(conversations)]
        while True:
            try:
                assert user.client is not None
                result = await user.client.rpc(
                    "msg.send",
                    {"conversation_id": conv, "content": f"{key} hello", "client_key": key},
                    timeout=30,
                )
            except GbError as exc:
                assert exc.code in RETRYABLE, exc
                user.refused += 1
                await asyncio.sleep(0.05)
                continue
            except (ConnectionClosed, TimeoutError, OSError):
                user.reconnects += 1
                user.node = (user.node + 1) % len(urls)
                await attach(user, urls, conversations)
                continue
            user.acked[key] = result
            break


@pytest.mark.reliability
async def test_kill_9_mid_stream_loses_no_acknowledged_message(tmp_path, control_db, own_tansu):
    broker = own_tansu()
    topic = f"rel-{uuid.uuid4().hex[:8]}"
    common = {
        "GB_BROKER": "redis",
        "GB_REDIS_URL": SHARED_REDIS_URL,
        "GB_DATABASE_URL": control_db,
        "GB_KAFKA_BOOTSTRAP": broker.bootstrap,
        "GB_KAFKA_REPLICATION": "1",
        "GB_KAFKA_IDEMPOTENT": "off",  # tansu: no InitProducerId
        "GB_LOG_TOPIC": topic,
        "GB_LOG_PARTITIONS": "6",
        "GB_USER_MESSAGE_RATE": "100000",
        "GB_TENANT_MESSAGE_RATE": "1000000",
        "GB_LOG_LEVEL": "warning",
        # A killed node's open intents are settled from PostgreSQL after this (default 30 s).
        "GB_MESSAGE_PENDING_TIMEOUT": "5",
    }
    procs = [
        gb_serve(GB_NODE_ID=f"rel-{i}", GB_DATA_DIR=str(tmp_path / str(i)), **common)
        for i in range(3)
    ]
    users: list[User] = []
    try:
        for proc, _, http in procs:
            await wait_ready(http, proc, timeout=60)
        urls = [f"ws://127.0.0.1:{ws}/ws" for _, ws, _ in procs]
        names = [f"user{i}" for i in range(USERS)]
        tokens = await tenant_tokens(control_db, names)
        users = [User(n, t, i % 3) for i, (n, t) in enumerate(zip(names, tokens, strict=True))]
        first = await connect(urls[0], users[0].token)
        conversations = [
            (await first.rpc("conv.create", {"members": names[1:]}))["id"]
            for _ in range(CONVERSATIONS)
        ]
        await first.close()
        for user in users:
            await attach(user, urls, conversations)
        repairers = [asyncio.create_task(repair(u)) for u in users]
        per_user = MESSAGES // USERS
        senders = [asyncio.create_task(send_all(u, urls, conversations, per_user)) for u in users]

        async def kill_when_a_third_is_acked() -> None:
            while sum(len(u.acked) for u in users) < MESSAGES // 3:
                await asyncio.sleep(0.05)
            procs[2][0].send_signal(signal.SIGKILL)

        killer = asyncio.create_task(kill_when_a_third_is_acked())
        async with asyncio.timeout(600):
            await asyncio.gather(*senders)
        await killer
        for task in repairers:
            task.cancel()
        assert procs[2][0].wait(10) == -signal.SIGKILL
        assert sum(u.reconnects for u in users) >= 1  # the users of the killed node moved

        acked = {key: r for u in users for key, r in u.acked.items()}
        assert len(acked) == per_user * USERS
        by_conv: dict[str, dict[str, int]] = {}
        for result in acked.values():
            by_conv.setdefault(result["conversation_id"], {})[result["id"]] = result["position"]
        # Everything acknowledged is in PostgreSQL exactly once (the persisters catch up).
        db = await Database.open(control_db, pool_size=2)
        try:
            async with asyncio.timeout(120):
                while True:
                    async with db.platform() as conn:
                        rows = await conn.fetch(
                            "SELECT id::text, client_key, position FROM messages"
                            " WHERE conversation_id = ANY($1::uuid[])",
                            conversations,
                        )
                    if len({r["id"] for r in rows}) >= len(acked):
                        break
                    await asyncio.sleep(0.2)
        finally:
            await db.close()
        assert len(rows) == len({r["id"] for r in rows}), "a message is in PostgreSQL twice"
        keys = [r["client_key"] for r in rows]
        assert len(keys) == len(set(keys)), "a client key has two messages"
        stored = {r["id"]: r["position"] for r in rows}
        assert {r["id"] for r in acked.values()} == set(stored), "acked != persisted"
        for result in acked.values():
            assert stored[result["id"]] == result["position"]
        # Every member has every message of every conversation, each once, and its cursor
        # reached the end: the client proved it has no gap.
        for user in users:
            await recover(user, conversations)
            for conv in conversations:
                assert user.seen(conv) == by_conv[conv], f"{user.name} in {conv}"
                assert user.timeline.cursor(conv) == max(by_conv[conv].values())
    finally:
        for user in users:
            for reader in user.readers:
                reader.cancel()
            if user.client is not None:
                await user.client.close()
        for proc, _, _ in procs:
            if proc.poll() is None:
                stop(proc)
