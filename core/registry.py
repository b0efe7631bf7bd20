"""The connection registry of one node: every authenticated connection by session and by user."""

from __future__ import annotations

from collections.abc import Iterator

from ._native.edge import Conn


class Registry:
    """Authenticated connections, indexed for direct delivery (by session, by tenant user).

    A user may hold several connections (devices); each session id is unique on the node.
    """

    def __init__(self) -> None:
        self._by_session: dict[str, Conn] = {}
        # A user's one connection is stored as is; a set only once a second one arrives
        # (most users hold one connection, and an empty set costs 216 bytes).
        self._by_user: dict[tuple[str, str], Conn | set[Conn]] = {}

    def __len__(self) -> int:
        return len(self._by_session)

    def __iter__(self) -> Iterator[Conn]:
        return iter(list(self._by_session.values()))

    def add(self, conn: Conn) -> Conn | None:
        """Register ``conn`` (its session must be set); returns the connection it displaced.

        A resumed session that is still open elsewhere on this node displaces the old one.
        """
        session = conn.session
        old = self._by_session.get(session.id)
        if old is not None:
            self.remove(old)
        self._by_session[session.id] = conn
        key = (session.identity.scope, session.identity.user)
        held = self._by_user.get(key)
        if held is None:
            self._by_user[key] = conn
        elif isinstance(held, set):
            held.add(conn)
        else:
            self._by_user[key] = {held, conn}
        return old

    def remove(self, conn: Conn) -> None:
        """Forget ``conn``; a connection never registered is ignored."""
        session = conn.session
        if session is None or self._by_session.get(session.id) is not conn:
            return
        del self._by_session[session.id]
        key = (session.identity.scope, session.identity.user)
        held = self._by_user[key]
        if isinstance(held, set):
            held.discard(conn)
            if len(held) == 1:
                self._by_user[key] = held.pop()
        else:
            del self._by_user[key]

    def session(self, session_id: str) -> Conn | None:
        """The connection of ``session_id`` on this node, if any."""
        return self._by_session.get(session_id)

    def user(self, scope: str, user: str) -> frozenset[Conn]:
        """Every connection of ``user`` in tenant ``scope`` on this node."""
        held = self._by_user.get((scope, user))
        if held is None:
            return frozenset()
        return frozenset(held) if isinstance(held, set) else frozenset((held,))
