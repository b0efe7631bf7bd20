"""The presence contract: who is online, and who is in which channel, across the nodes.

A PresenceStore is one node's view of a shared table. Each node writes only its own entries
(every entry carries the node id) and reads everybody's. Entries are leases: each one has a
deadline ``ttl`` after its last write, and ``heartbeat()`` renews all of this node's entries.
A node that crashes stops renewing, so its entries vanish ``ttl`` after its last heartbeat;
readers drop expired entries before they answer, so nobody ever sees a dead entry.

The node's own live entries are kept locally as well. That local set is the truth for this
node: a write that fails (PresenceUnavailable) is still recorded, and every heartbeat writes the
whole set again, so the shared table converges after an outage, even after the backend lost its
data. Writes of one store reach the backend in call order (heartbeats included), so a heartbeat
never revives an entry that a later ``leave``/``offline`` removed.

Keys are grouped by ``scope`` (a tenant: one instance), which never crosses scopes.

Implementation: every method is a list of operations (:class:`Op`) on sorted sets of members
scored by deadline, plus last-seen stamps. ``_execute`` runs one list per call atomically with
the backend's clock; the memory store interprets it in Python, the Redis store in one Lua
script, so both behave alike by construction.
"""

from __future__ import annotations

import abc
import functools
import logging
from collections.abc import Sequence
from typing import Final, NamedTuple, cast

import orjson

__all__ = [
    "Member",
    "Op",
    "OpCode",
    "PresenceStore",
    "PresenceUnavailable",
    "Result",
    "UserStatus",
    "channel_key",
    "last_seen_key",
    "user_key",
]

log = logging.getLogger(__name__)

DEFAULT_TTL: Final = 30.0
"""Seconds an entry lives after its last write; heartbeats should come every ``ttl / 3``."""

DEFAULT_LAST_SEEN_TTL: Final = 30 * 24 * 3600.0
"""Seconds a user's last-seen stamp is kept after the user was last online."""


class PresenceUnavailable(ConnectionError):  # noqa: N818 -- same naming as BrokerUnavailable
    """The backend cannot be reached, or the store is not started / closed.

    Retryable. The entry a failed ``online``/``join`` was about stays recorded locally and is
    written by the next heartbeat that reaches the backend.
    """


class UserStatus(NamedTuple):
    """A user's presence in a scope."""

    online: bool
    """True while at least one session of the user is online on some live node."""
    last_seen: float | None
    """For an offline user: Unix time (s, backend clock, ms precision) the user was last known
    online (last heartbeat, or the ``offline`` of a session). None while online, for a user
    never seen, or once the stamp is older than ``last_seen_ttl``."""
    sessions: int
    """Sessions of the user online now, over all nodes."""


class Member(NamedTuple):
    """A presence member of a channel: one session of a user, held by a node."""

    session: str
    user: str
    node: str


class OpCode:
    """The operations a store runs; values are the Lua script's op codes."""

    ADD: Final = "A"
    """Drop expired members of a sorted set, then add/renew ``arg`` with deadline now + ttl."""
    REMOVE: Final = "R"
    """Remove member ``arg`` from a sorted set."""
    SEEN: Final = "S"
    """Stamp a last-seen key with now (kept ``last_seen_ttl``)."""
    GET: Final = "G"
    """Read a last-seen key: the stamp in ms, or None."""
    COUNT: Final = "C"
    """Drop expired members, return how many remain."""
    LIST: Final = "L"
    """Drop expired members, return the remaining ones, each decoded (a list of str)."""


Op = tuple[str, bytes, bytes]
"""``(op code, key, member)``; the member is ``b""`` for ops that take none."""

Result = int | list[list[str]] | None
"""What one op returns: 0 for writes, a count, the members (decoded), or a stamp."""


def _check_scope(scope: str) -> None:
    # The scope is the key's hash tag: a brace in it would end the tag early and could make
    # two scopes' keys equal.
    if not scope or "{" in scope or "}" in scope:
        raise ValueError(f"presence scope must be non-empty and brace-free: {scope!r}")


# Keys are encoded here, so text that is not valid Unicode fails at the caller
# (UnicodeEncodeError is a ValueError) instead of failing a whole batch in the backend.


def channel_key(scope: str, channel: str) -> bytes:
    """The sorted set of a channel's presence members (member -> deadline in ms)."""
    return f"gb:pr:{{{scope}}}:c:{channel}".encode()


def user_key(scope: str, user: str) -> bytes:
    """The sorted set of a user's online sessions (member -> deadline in ms)."""
    return f"gb:pr:{{{scope}}}:u:{user}".encode()


def last_seen_key(scope: str, user: str) -> bytes:
    """The user's last-seen stamp (ms since the epoch, backend clock)."""
    return f"gb:pr:{{{scope}}}:ls:{user}".encode()


def _member(*parts: str) -> bytes:
    """A sorted-set member: the entry's identity and owner as a JSON array."""
    try:
        return orjson.dumps(parts)
    except orjson.JSONEncodeError as exc:
        raise ValueError(f"presence names must be valid Unicode: {exc}") from None


class PresenceStore(abc.ABC):
    """One node's side of the shared presence table. All methods must run on one event loop.

    Online/offline is per user session; join/leave is per channel and session (a session may
    be a member of many channels). Repeating ``online``/``join`` is harmless (it renews the
    entry); ``offline``/``leave`` of an entry this node does not hold change nothing.
    Every method raises PresenceUnavailable while the backend is unreachable or the store is
    not started, and ValueError for a scope that is empty or contains a brace.
    """

    name: str
    """Implementation name: ``"memory"`` or ``"redis"``."""

    def __init__(
        self,
        node_id: str,
        *,
        ttl: float = DEFAULT_TTL,
        last_seen_ttl: float = DEFAULT_LAST_SEEN_TTL,
    ) -> None:
        if ttl <= 0 or last_seen_ttl <= 0:
            raise ValueError("presence ttl and last_seen_ttl must be positive")
        self.node_id = node_id
        self.ttl = ttl
        self.last_seen_ttl = last_seen_ttl
        self._ttl_ms = max(1, round(ttl * 1000))
        self._last_seen_ttl_ms = max(1, round(last_seen_ttl * 1000))
        # This node's live entries, per scope: (user, session) -> member, (channel, session)
        # -> (user, member). Members are encoded once, here.
        self._sessions: dict[str, dict[tuple[str, str], bytes]] = {}
        self._members: dict[str, dict[tuple[str, str], tuple[str, bytes]]] = {}
        self._started = False
        self._closed = False

    @property
    def heartbeat_interval(self) -> float:
        """How often the node should call ``heartbeat()``: a third of the ttl, so one late or
        failed heartbeat does not let live entries expire."""
        return self.ttl / 3

    @property
    def local_entries(self) -> tuple[int, int]:
        """``(sessions, channel memberships)`` this node holds and renews."""
        return (
            sum(len(s) for s in self._sessions.values()),
            sum(len(m) for m in self._members.values()),
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the backend. Raises PresenceUnavailable if it cannot be reached (start
        may then be called again) and RuntimeError if started twice or after close."""
        if self._started or self._closed:
            raise RuntimeError(f"{self.name} presence: start() called twice or after close()")
        await self._connect()
        self._started = True

    async def close(self, *, withdraw: bool = True) -> None:
        """Stop. Idempotent.

        With ``withdraw`` (a clean shutdown) this node's entries are removed from the shared
        table first, best effort; without it they are left to expire as after a crash.
        Either way the users whose sessions are dropped get their last-seen stamp.
        """
        if self._closed:
            return
        calls = self._calls_for_all(OpCode.REMOVE) if withdraw and self._started else []
        try:
            if calls:
                await self._execute(calls)
        except PresenceUnavailable as exc:
            log.warning("%s presence %r: entries left to expire: %s", self.name, self.node_id, exc)
        finally:
            self._closed = True
            self._sessions.clear()
            self._members.clear()
            await self._disconnect()

    # -- users -----------------------------------------------------------------------------

    async def online(self, scope: str, user: str, session: str) -> None:
        """Mark ``session`` of ``user`` online on this node (renewed by heartbeats)."""
        _check_scope(scope)
        self._require_running()
        ops: list[Op] = [
            (OpCode.ADD, user_key(scope, user), _member(session, self.node_id)),
            (OpCode.SEEN, last_seen_key(scope, user), b""),
        ]
        self._sessions.setdefault(scope, {})[user, session] = ops[0][2]
        await self._execute_one(scope, ops)

    async def offline(self, scope: str, user: str, session: str) -> None:
        """Mark ``session`` of ``user`` offline; stamps the user's last-seen time."""
        _check_scope(scope)
        self._require_running()
        sessions = self._sessions.get(scope)
        member = None if sessions is None else sessions.pop((user, session), None)
        if member is None:
            return
        if not sessions:
            del self._sessions[scope]
        await self._execute_one(
            scope,
            [
                (OpCode.REMOVE, user_key(scope, user), member),
                (OpCode.SEEN, last_seen_key(scope, user), b""),
            ],
        )

    async def status(self, scope: str, users: Sequence[str]) -> dict[str, UserStatus]:
        """The status of each of ``users`` (one atomic read for all of them)."""
        _check_scope(scope)
        self._require_running()
        ops: list[Op] = []
        for user in users:
            ops.append((OpCode.COUNT, user_key(scope, user), b""))
            ops.append((OpCode.GET, last_seen_key(scope, user), b""))
        results = await self._execute_one(scope, ops) if ops else []
        answer: dict[str, UserStatus] = {}
        for n, user in enumerate(users):
            sessions, stamp = results[2 * n], results[2 * n + 1]
            assert isinstance(sessions, int)
            if sessions:
                answer[user] = UserStatus(True, None, sessions)
            else:
                seen = None if stamp is None else cast(int, stamp) / 1000
                answer[user] = UserStatus(False, seen, 0)
        return answer

    # -- channels --------------------------------------------------------------------------

    async def join(self, scope: str, channel: str, session: str, user: str) -> int:
        """Make ``session`` (of ``user``) a presence member of ``channel``; returns the number
        of members after joining, over all nodes. Joining again renews the entry (and
        replaces the user if it changed)."""
        _check_scope(scope)
        self._require_running()
        key = channel_key(scope, channel)
        member = _member(session, user, self.node_id)
        members = self._members.setdefault(scope, {})
        old = members.get((channel, session))
        members[channel, session] = (user, member)
        ops: list[Op] = []
        if old is not None and old[1] != member:
            ops.append((OpCode.REMOVE, key, old[1]))
        ops += [(OpCode.ADD, key, member), (OpCode.COUNT, key, b"")]
        results = await self._execute_one(scope, ops)
        return _count(results[-1])

    async def leave(self, scope: str, channel: str, session: str) -> int:
        """Remove ``session`` from ``channel``'s members; returns the number of members left."""
        _check_scope(scope)
        self._require_running()
        key = channel_key(scope, channel)
        members = self._members.get(scope)
        entry = None if members is None else members.pop((channel, session), None)
        ops: list[Op] = [(OpCode.COUNT, key, b"")]
        if entry is not None:
            assert members is not None
            if not members:
                del self._members[scope]
            ops.insert(0, (OpCode.REMOVE, key, entry[1]))
        results = await self._execute_one(scope, ops)
        return _count(results[-1])

    async def members(self, scope: str, channel: str) -> list[Member]:
        """The live presence members of ``channel`` over all nodes, in no particular order."""
        _check_scope(scope)
        self._require_running()
        results = await self._execute_one(scope, [(OpCode.LIST, channel_key(scope, channel), b"")])
        listed = results[0]
        assert isinstance(listed, list)
        return list(map(_as_member, listed))

    async def count(self, scope: str, channel: str) -> int:
        """The number of live presence members of ``channel`` over all nodes."""
        _check_scope(scope)
        self._require_running()
        results = await self._execute_one(scope, [(OpCode.COUNT, channel_key(scope, channel), b"")])
        return _count(results[0])

    # -- liveness --------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Renew every entry this node holds (and write back any the backend lost).

        Call every ``heartbeat_interval`` seconds. Raises PresenceUnavailable if the backend
        cannot be reached; the next heartbeat that gets through repairs the table.
        """
        self._require_running()
        calls = self._calls_for_all(OpCode.ADD)
        if calls:
            await self._execute(calls)

    def _calls_for_all(self, code: str) -> list[tuple[str, list[Op]]]:
        """``code`` (ADD to renew, REMOVE to withdraw) for every entry this node holds, plus a
        last-seen stamp for each of its users; chunked per scope."""
        calls: list[tuple[str, list[Op]]] = []
        for scope, sessions in self._sessions.items():
            ops: list[Op] = [
                (code, user_key(scope, user), member) for (user, _), member in sessions.items()
            ]
            ops += [
                (OpCode.SEEN, last_seen_key(scope, user), b"")
                for user in dict.fromkeys(user for user, _ in sessions)
            ]
            calls += _chunked(scope, ops)
        for scope, members in self._members.items():
            ops = [
                (code, channel_key(scope, channel), member)
                for (channel, _), (_, member) in members.items()
            ]
            calls += _chunked(scope, ops)
        return calls

    # -- backend ---------------------------------------------------------------------------

    def _require_running(self) -> None:
        if not self._started or self._closed:
            state = "closed" if self._closed else "not started"
            raise PresenceUnavailable(f"{self.name} presence {self.node_id!r} is {state}")

    async def _execute_one(self, scope: str, ops: list[Op]) -> list[Result]:
        return (await self._execute([(scope, ops)]))[0]

    @abc.abstractmethod
    async def _connect(self) -> None:
        """Reach the backend; raise PresenceUnavailable if it cannot be reached."""

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Release the backend connection."""

    @abc.abstractmethod
    async def _execute(self, calls: list[tuple[str, list[Op]]]) -> list[list[Result]]:
        """Run each call's ops atomically, all keys of one call in its scope, calls in order;
        one result list per call. Raises PresenceUnavailable when the backend is unreachable.
        """


CHUNK: Final = 512
"""Most ops in one atomic call, so a heartbeat of a big node does not block the backend long."""


def _chunked(scope: str, ops: list[Op]) -> list[tuple[str, list[Op]]]:
    return [(scope, ops[n : n + CHUNK]) for n in range(0, len(ops), CHUNK)]


_as_member: Final = functools.partial(tuple.__new__, Member)
"""``[session, user, node]`` -> Member, without NamedTuple's slower keyword-aware __new__."""


def _count(result: Result) -> int:
    assert isinstance(result, int)
    return result
