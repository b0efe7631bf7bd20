"""The gb node: WebSocket edge, hub and fan-out, brokers, control plane, CLI."""
