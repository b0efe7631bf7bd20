"""The host side a dialog's keywords see: where TALK goes, where HEAR reads, and the dialog's
options, memory, tables and services.

:class:`HostContext` satisfies the registry's ``Context`` protocol and carries the state the
standard keywords need; the concrete contexts differ only in how a conversation happens:
:class:`ScriptedContext` (answers given up front, a transcript collected — tests and the
conformance suite), :class:`TerminalContext` (stdin/stdout, ``gb basic run``) and the
debugger's own (``compiler.debugger``).

Keywords whose library comes later (mail, SMS, HTTP, web automation, AI ...) call a
:class:`Service` found by name in ``services``; a host without that service makes the call fail
with :class:`ServiceUnavailableError`, never with a made-up result.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import uuid
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, runtime_checkable

from ..runtime.errors import StateError
from ..runtime.semantics import BasicError
from ..runtime.state import decode_heap, encode_heap
from ..syntax import ast
from .tables import MergeReport, Table, TableError


class HostError(BasicError):
    """A keyword that cannot do what it was asked (the dialog ends with this message)."""


class ServiceUnavailableError(HostError):
    """A keyword needs a service this host does not provide."""

    def __init__(self, keyword: str, service: str) -> None:
        self.keyword = keyword
        self.service = service
        super().__init__(f"{keyword} needs the {service} service, not available in this host")


class EndOfInputError(HostError):
    """The dialog waits for an answer and there will be none (end of input, no more script)."""


@runtime_checkable
class Service(Protocol):
    """A library the bot runtime plugs in (``mail``, ``http``, ``web`` ...): it performs the
    keywords routed to it, by their registry name and positional arguments."""

    async def call(self, keyword: str, args: Sequence[Any]) -> Any: ...


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened in a conversation: ``talk`` (text), ``hear`` (the answer),
    ``menu`` (the options shown), ``wait`` (seconds), ``log`` (text)."""

    kind: str
    value: Any


class TableStore:
    """The dialog's in-memory tables by case-insensitive name."""

    def __init__(self, tables: Mapping[str, Iterable[Mapping[str, Any]]] | None = None) -> None:
        self._tables: dict[str, Table] = {}
        for name, rows in (tables or {}).items():
            table = self.create(name)
            for row in rows:
                table.insert(row)

    def declare(self, definitions: Iterable[ast.TableDef]) -> None:
        """Create the program's TABLEs (with their columns) that do not exist yet."""
        for definition in definitions:
            if definition.name not in self:
                self.create(definition.name, [f.name for f in definition.fields])

    def create(self, name: str, columns: Sequence[str] = ()) -> Table:
        """A new empty table (replacing one of the same name)."""
        table = Table(name, list(columns))
        self._tables[name.strip().lower()] = table
        return table

    def get(self, name: str) -> Table:
        """The table named ``name``; TableError naming it if there is none."""
        try:
            return self._tables[name.strip().lower()]
        except KeyError:
            known = ", ".join(t.name for t in self._tables.values()) or "none"
            raise TableError(f"no table {name!r} (tables: {known})") from None

    def get_or_create(self, name: str) -> Table:
        """The table named ``name``, created empty on first use (SAVE to a new file)."""
        key = name.strip().lower()
        return self._tables[key] if key in self._tables else self.create(name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.strip().lower() in self._tables

    def names(self) -> list[str]:
        return [t.name for t in self._tables.values()]


@dataclass
class HostContext:
    """What the standard keywords get: the ``Context`` protocol plus the dialog's state.

    ``options`` are the per-dialog settings of the SET keywords (``language``, ``theme``,
    ``output``, ``max lines`` ...); ``store`` is the SET/GET memory (pass the same mapping to
    several dialogs to share it); ``config`` the bot's parameters (GET CONFIG); ``report``
    the MERGE counters; ``user_params`` SET PARAM's values; ``files`` the tables OPENed AS #n;
    ``events`` what happened, in order, unless ``record`` is off.
    """

    dialog_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    globals: MutableMapping[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    store: MutableMapping[str, Any] = field(default_factory=dict)
    tables: TableStore = field(default_factory=TableStore)
    config: Mapping[str, Any] = field(default_factory=dict)
    services: Mapping[str, Service] = field(default_factory=dict)
    report: MergeReport = field(default_factory=MergeReport)
    user_params: MutableMapping[str, Any] = field(default_factory=dict)
    files: dict[int, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    record: bool = True

    def _record(self, event: Event) -> None:
        # A long-running conversation (a terminal, the debugger) need not keep its history.
        if self.record:
            self.events.append(event)

    # -- the registry's Context protocol ---------------------------------------------------

    def output(self, text: str) -> None:
        """Show ``text`` to the user: recorded, then delivered by :meth:`deliver`."""
        self._record(Event("talk", text))
        self.deliver(text)

    async def input(self) -> str:
        """The user's next message, recorded."""
        answer = await self.receive()
        self._record(Event("hear", answer))
        return answer

    async def sleep(self, seconds: float) -> None:
        """WAIT: recorded, then :meth:`pause`."""
        if seconds < 0:
            raise HostError(f"WAIT: cannot wait a negative time ({seconds} s)")
        self._record(Event("wait", seconds))
        await self.pause(seconds)

    # -- what concrete contexts provide ----------------------------------------------------

    def deliver(self, text: str) -> None:
        """Send a TALK to the user (the base context only records it)."""

    async def receive(self) -> str:
        """Wait for the user's next message."""
        raise EndOfInputError("the dialog waits for an answer but this host has no user to ask")

    async def pause(self, seconds: float) -> None:
        """Let ``seconds`` pass (the base context does not really wait)."""

    def choices(self, options: Sequence[Any]) -> None:
        """Offer menu options before a HEAR (buttons in the original); recorded."""
        self._record(Event("menu", list(options)))

    def log(self, text: str) -> None:
        """LOG / DEBUG: recorded (the terminal also prints it to stderr)."""
        self._record(Event("log", text))

    # -- helpers for keywords ---------------------------------------------------------------

    @property
    def language(self) -> str:
        """The content language: SET LANGUAGE's, else the bot's ``Default Content Language``,
        else ``en`` (two-letter code, lower case)."""
        value = self.options.get("language") or self.config.get("Default Content Language")
        return str(value or "en").strip().lower()[:2]

    def service(self, name: str, keyword: str) -> Service:
        """The service ``name`` that ``keyword`` needs, or :class:`ServiceUnavailableError`."""
        found = self.services.get(name)
        if found is None:
            raise ServiceUnavailableError(keyword, name)
        return found

    def transcript(self) -> list[str]:
        """Every TALK so far, in order."""
        return [event.value for event in self.events if event.kind == "talk"]

    # -- durable state ----------------------------------------------------------------------

    def save_state(self) -> bytes:
        """What this dialog set on its host — options, MERGE counters, open file numbers,
        SET PARAMs — as bytes to keep beside ``Dialog.save()`` (in the runtime's tagged value
        format). Tables, the store, config and services are the bot's, not the dialog's."""
        report = self.report
        state = {
            "options": dict(self.options),
            "report": [report.title, report.adds, report.updates, report.skipped],
            "files": {str(number): name for number, name in self.files.items()},
            "params": dict(self.user_params),
        }
        return encode_heap([(0, state)])

    def load_state(self, data: bytes) -> None:
        """Take back what :meth:`save_state` saved (StateError if it is not such data)."""
        entries = decode_heap(data)
        if len(entries) != 1 or not isinstance(entries[0][1], dict):
            raise StateError("saved host state is corrupt: it is not one map")
        state = entries[0][1]
        try:
            options, params = dict(state["options"]), dict(state["params"])
            title, adds, updates, skipped = state["report"]
            files = {int(number): str(name) for number, name in state["files"].items()}
            report = MergeReport(title, int(adds), int(updates), int(skipped))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"saved host state is corrupt: {exc!r}") from None
        self.options, self.user_params, self.files, self.report = options, params, files, report


@dataclass
class ScriptedContext(HostContext):
    """A conversation with answers given up front (``inputs``), for tests; WAIT does not
    really wait. When the answers run out the next HEAR fails with :class:`EndOfInputError`."""

    inputs: list[str] = field(default_factory=list)

    async def receive(self) -> str:
        if not self.inputs:
            raise EndOfInputError("the dialog waits for an answer but the script has no more")
        return self.inputs.pop(0)


async def _read_line(stream: TextIO) -> str:
    """A line of ``stream`` read in a daemon thread: the event loop keeps running meanwhile,
    and an interrupted dialog (Ctrl-C) does not wait at exit for a blocked read."""
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str] = loop.create_future()

    def deliver(line: str) -> None:
        if not answer.done():
            answer.set_result(line)

    def read() -> None:
        line = stream.readline()
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(deliver, line)

    threading.Thread(target=read, name="gb-basic-stdin", daemon=True).start()
    return await answer


@dataclass
class TerminalContext(HostContext):
    """A conversation on a terminal: each TALK is one line on ``stdout`` and nothing else
    goes there; prompts (when ``stdin`` is a terminal), menus and logs go to ``stderr``; each
    HEAR reads a line of ``stdin`` (end of input ends the dialog with
    :class:`EndOfInputError`)."""

    record: bool = False
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    prompt: str = "> "

    def deliver(self, text: str) -> None:
        # One TALK, one line: a line break inside a message (BEGIN TALK blocks) is written as
        # the two characters \n so a reader of stdout still gets one message per line.
        self.stdout.write(text.replace("\r\n", "\n").replace("\n", "\\n") + "\n")
        self.stdout.flush()

    async def receive(self) -> str:
        if self.stdin.isatty():  # a person types the answer: show that one is expected
            self.stderr.write(self.prompt)
            self.stderr.flush()
        line = await _read_line(self.stdin)
        if not line:
            raise EndOfInputError("end of input while the dialog waits for an answer")
        return line.rstrip("\r\n")

    async def pause(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def choices(self, options: Sequence[Any]) -> None:
        super().choices(options)
        listed = "\n".join(f"  {n}. {option}" for n, option in enumerate(options, 1))
        self.stderr.write(f"Please, select one:\n{listed}\n")

    def log(self, text: str) -> None:
        super().log(text)
        self.stderr.write(f"[log] {text}\n")
