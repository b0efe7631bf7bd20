"""Messaging (issue 4): conversations, messages through the durable log into PostgreSQL,
real-time delivery, status receipts, recovery and search.

``record`` is the log record codec, ``persister`` the consumer group that writes the log to
the ``messages`` table; ``service`` is the transport-independent API the RPC and REST layers
call.
"""
