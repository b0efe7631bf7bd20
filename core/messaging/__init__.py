"""Messaging (issue 4): conversations, messages through the durable log into PostgreSQL,
real-time delivery, status receipts, recovery and search.

``service`` is the transport-independent API (``MessageService``) that ``rpc`` (WebSocket RPC
methods) and ``rest`` (``/v1/conversations``, ``/v1/messages/search``) expose; ``validate``
checks its input, ``store`` holds its SQL, ``cache`` the recent history per conversation (and
what recovery can vouch for), ``idempotency`` the clients' message keys, ``ids`` the UUIDv7
message ids. ``record`` is the log record codec, ``persister`` the consumer group that writes
the log to the ``messages`` table, ``delivery`` the hub side of realtime events, ``search`` the
full-text search.
"""
