"""Starting a dialog with the standard library's context: the program's TABLEs declared, the
globals the original's sandbox preset (``today``, ``now``, ``date``, ``ENTER``, ``REPORT``),
and ``ctx.globals`` bound to the dialog's variables so keywords such as MERGE can update
``REPORT`` as the original did.

The CLI, the debugger and the conformance suite all start dialogs this way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from ..codegen.unit import CompiledUnit
from ..host.registry import Registry
from ..runtime.dialog import Dialog, Limits
from .context import HostContext
from .dates import now_text, today_text


class DialogGlobals(MutableMapping[str, Any]):
    """A dialog's global variables by lower-case name; names the program does not use are
    kept beside it (``Dialog.extra_globals``), as the original kept every sandbox global."""

    def __init__(self, dialog: Dialog) -> None:
        self._dialog = dialog
        self._slots = dialog.unit.debug.globals

    def __getitem__(self, name: str) -> Any:
        key = name.lower()
        if key in self._slots:
            return self._dialog.get_global(key)
        return self._dialog.extra_globals[key]

    def __setitem__(self, name: str, value: Any) -> None:
        key = name.lower()
        if key in self._slots:
            self._dialog.set_global(key, value)
        else:
            self._dialog.extra_globals[key] = value

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        if key in self._slots:
            raise KeyError(f"{name} is a variable of the program; it cannot be removed")
        del self._dialog.extra_globals[key]

    def __iter__(self) -> Iterator[str]:
        # Disjoint: a name of the program is always written to its slot.
        yield from self._slots
        yield from self._dialog.extra_globals

    def __len__(self) -> int:
        return len(self._slots) + len(self._dialog.extra_globals)


def start_dialog(
    unit: CompiledUnit,
    registry: Registry,
    ctx: HostContext,
    *,
    limits: Limits | None = None,
    globals: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Dialog:
    """A new dialog of ``unit`` whose keywords run with ``ctx``; ``now`` is the moment its
    ``today``/``now``/``date`` globals show (the current time by default)."""
    ctx.tables.declare(unit.program.tables)
    moment = now or dt.datetime.now().replace(microsecond=0)
    preset = {
        "today": today_text(moment, ctx.language),
        "now": now_text(moment),
        "date": moment,
        "enter": "\r",
        "report": ctx.report.text(),
        **(globals or {}),
    }
    dialog = Dialog.start(unit, registry, limits=limits, globals=preset)
    bind(ctx, dialog)
    return dialog


def bind(ctx: HostContext, dialog: Dialog) -> None:
    """Make ``ctx.globals`` the dialog's globals (after a start or a restore)."""
    ctx.globals = DialogGlobals(dialog)


async def run_restored(dialog: Dialog, ctx: HostContext) -> Any:
    """Drive a restored dialog to its end with ``ctx`` (bound to it here); ``Dialog.run``
    first performs the keyword call it was waiting for when saved (the HEAR a conversation
    stopped at)."""
    bind(ctx, dialog)
    return await dialog.run(ctx)
