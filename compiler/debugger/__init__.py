"""The remote debugger of BASIC dialogs: the original's ``DebuggerService`` operations as a
Python API (:class:`DebuggerService`) with real-time events, and as REST endpoints
(:func:`gb.compiler.debugger.rest.debugger_router`, imported separately: it needs FastAPI)."""

from .edits import ChangeError, LineEdit, apply_edits, parse_change
from .events import DebugEvent, DebugState, Subscription
from .service import (
    CompileFailedError,
    ConflictError,
    DebuggerContext,
    DebuggerError,
    DebuggerService,
    NotFoundError,
)
from .sources import DirectorySource, MemorySource, ScriptNotFoundError, ScriptSource

__all__ = [
    "ChangeError",
    "CompileFailedError",
    "ConflictError",
    "DebugEvent",
    "DebugState",
    "DebuggerContext",
    "DebuggerError",
    "DebuggerService",
    "DirectorySource",
    "LineEdit",
    "MemorySource",
    "NotFoundError",
    "ScriptNotFoundError",
    "ScriptSource",
    "Subscription",
    "apply_edits",
    "parse_change",
]
