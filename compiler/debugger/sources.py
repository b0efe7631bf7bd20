"""Where the debugger finds a bot's scripts (and writes a refactored one back).

The original read ``<bot>.gbai/<bot>.gbdialog/<script>.bas`` from the bot's package;
:class:`DirectorySource` does the same under a root folder, :class:`MemorySource` keeps
scripts in a dict (tests, or a host that loads packages itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class ScriptNotFoundError(LookupError):
    """No script of that name for that bot."""


class ScriptSource(Protocol):
    """Reads and writes a bot's BASIC scripts by bot id and script name (without ``.bas``)."""

    def load(self, bot_id: str, script: str) -> str: ...

    def save(self, bot_id: str, script: str, text: str) -> None: ...

    def loader(self, bot_id: str) -> Callable[[str], str]:
        """What INCLUDE reads: another script of the same bot, by file name."""
        ...


class MemorySource:
    """Scripts held in memory: ``{(bot_id, script): text}``."""

    def __init__(self, scripts: Mapping[tuple[str, str], str] | None = None) -> None:
        self.scripts: dict[tuple[str, str], str] = dict(scripts or {})

    def load(self, bot_id: str, script: str) -> str:
        try:
            return self.scripts[(bot_id, script_stem(script))]
        except KeyError:
            raise ScriptNotFoundError(f"bot {bot_id} has no script {script!r}") from None

    def save(self, bot_id: str, script: str, text: str) -> None:
        self.scripts[(bot_id, script_stem(script))] = text

    def loader(self, bot_id: str) -> Callable[[str], str]:
        return lambda name: self.load(bot_id, name)


class DirectorySource:
    """Scripts in packages under ``root``: ``root/<bot>.gbai/<bot>.gbdialog/<script>.bas``."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def path(self, bot_id: str, script: str) -> Path:
        """The file of a script; ValueError for names that could leave the package."""
        for part, what in ((bot_id, "bot id"), (script_stem(script), "script name")):
            if not _SAFE.fullmatch(part) or ".." in part:
                raise ValueError(f"bad {what} {part!r}: use letters, digits, '_', '-' and '.'")
        return self.root / f"{bot_id}.gbai" / f"{bot_id}.gbdialog" / f"{script_stem(script)}.bas"

    def load(self, bot_id: str, script: str) -> str:
        path = self.path(bot_id, script)
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ScriptNotFoundError(f"bot {bot_id} has no script {script!r}") from None

    def save(self, bot_id: str, script: str, text: str) -> None:
        self.path(bot_id, script).write_text(text, encoding="utf-8")

    def loader(self, bot_id: str) -> Callable[[str], str]:
        return lambda name: self.load(bot_id, name)


def script_stem(script: str) -> str:
    """A script name without its ``.bas`` extension."""
    return script[:-4] if script.lower().endswith(".bas") else script
