"""gb's standard keyword library: real behaviour for the keywords gb performs by itself, and
service delegation for those whose library the bot runtime brings."""

from .context import (
    EndOfInputError,
    Event,
    HostContext,
    HostError,
    ScriptedContext,
    Service,
    ServiceUnavailableError,
    TableStore,
    TerminalContext,
)
from .registry import IMPLEMENTATIONS, stdlib_registry
from .services import SERVICE_OF

__all__ = [
    "IMPLEMENTATIONS",
    "SERVICE_OF",
    "EndOfInputError",
    "Event",
    "HostContext",
    "HostError",
    "ScriptedContext",
    "Service",
    "ServiceUnavailableError",
    "TableStore",
    "TerminalContext",
    "stdlib_registry",
]
