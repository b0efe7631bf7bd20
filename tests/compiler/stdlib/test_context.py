"""The contexts keywords run in: what they record, where a terminal writes, what fails."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from gb.compiler.host import Context
from gb.compiler.stdlib import (
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
from gb.compiler.stdlib.tables import TableError


class Recorder:
    """A service that records its calls and answers with a fixed value."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.answer = answer

    async def call(self, keyword: str, args: Sequence[Any]) -> Any:
        self.calls.append((keyword, list(args)))
        return self.answer


def test_contexts_satisfy_the_registry_protocol() -> None:
    assert isinstance(HostContext(), Context)
    assert isinstance(ScriptedContext(), Context)
    assert isinstance(Recorder(), Service)


async def test_scripted_context_records_the_conversation() -> None:
    ctx = ScriptedContext(inputs=["Ana"])
    ctx.output("Hello")
    assert await ctx.input() == "Ana"
    await ctx.sleep(2.5)
    ctx.choices(["a", "b"])
    ctx.log("note")
    assert ctx.events == [
        Event("talk", "Hello"),
        Event("hear", "Ana"),
        Event("wait", 2.5),
        Event("menu", ["a", "b"]),
        Event("log", "note"),
    ]
    assert ctx.transcript() == ["Hello"]
    with pytest.raises(EndOfInputError, match="the script has no more"):
        await ctx.input()
    with pytest.raises(HostError, match="negative time"):
        await ctx.sleep(-1)


async def test_base_context_has_no_user() -> None:
    ctx = HostContext()
    ctx.output("x")  # recorded only
    await ctx.sleep(0)
    with pytest.raises(EndOfInputError, match="no user to ask"):
        await ctx.input()
    assert len(ctx.dialog_id) == 32


def test_language_comes_from_the_option_then_the_config() -> None:
    assert HostContext().language == "en"
    assert HostContext(config={"Default Content Language": "pt-BR"}).language == "pt"
    assert HostContext(options={"language": "FR"}, config={
        "Default Content Language": "pt"}).language == "fr"  # fmt: skip


def test_services_by_name() -> None:
    mail = Recorder()
    ctx = HostContext(services={"mail": mail})
    assert ctx.service("mail", "SEND MAIL") is mail
    with pytest.raises(ServiceUnavailableError) as info:
        ctx.service("sms", "SEND SMS TO")
    assert str(info.value) == "SEND SMS TO needs the sms service, not available in this host"
    assert (info.value.keyword, info.value.service) == ("SEND SMS TO", "sms")


def test_table_store() -> None:
    store = TableStore({"People": [{"Name": "Ana"}]})
    assert "people" in store and 3 not in store
    assert store.get("PEOPLE").rows == [{"Name": "Ana"}]
    assert store.get_or_create("people") is store.get("People")
    fresh = store.get_or_create("New.csv")
    assert fresh.columns == [] and store.names() == ["People", "New.csv"]
    with pytest.raises(TableError, match=r"no table 'x' \(tables: People, New.csv\)"):
        store.get("x")
    assert store.create("People", ["A"]).columns == ["A"]
    with pytest.raises(TableError, match=r"\(tables: none\)"):
        TableStore().get("x")


class Keyboard(io.StringIO):
    """Input typed by a person (a terminal)."""

    def isatty(self) -> bool:
        return True


async def test_terminal_context_talks_on_stdout_only() -> None:
    stdin = Keyboard("Ana\r\nsecond\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    ctx = TerminalContext(stdin=stdin, stdout=stdout, stderr=stderr)
    ctx.output("Hello\nworld")
    assert await ctx.input() == "Ana"
    ctx.choices(["Yes", "No"])
    ctx.log("debug text")
    await ctx.sleep(0.001)
    assert await ctx.input() == "second"
    with pytest.raises(EndOfInputError, match="end of input"):
        await ctx.input()
    assert stdout.getvalue() == "Hello\\nworld\n"
    assert stderr.getvalue() == ("> Please, select one:\n  1. Yes\n  2. No\n[log] debug text\n> > ")
    assert ctx.events == []  # a terminal keeps no history
    piped, quiet = io.StringIO("x\n"), io.StringIO()
    recording = TerminalContext(stdin=piped, stdout=stdout, stderr=quiet, record=True)
    assert await recording.input() == "x"
    assert quiet.getvalue() == ""  # no prompt when the answers come from a pipe
    assert recording.events == [Event("hear", "x")]


def test_host_state_round_trip() -> None:
    ctx = ScriptedContext(options={"language": "pt", "headers": {"X": 1.0}})
    ctx.files[2] = "log.xlsx"
    ctx.user_params["color"] = "blue"
    ctx.report.title, ctx.report.adds = "People", 3
    other = ScriptedContext()
    other.load_state(ctx.save_state())
    assert other.options == {"language": "pt", "headers": {"X": 1.0}}
    assert other.files == {2: "log.xlsx"} and other.user_params == {"color": "blue"}
    assert other.report.text() == "People adds: 3, updates: 0 and skipped: 0."


async def test_terminal_read_cancelled_while_blocked() -> None:
    released = threading.Event()
    read_done = threading.Event()

    class SlowInput(io.StringIO):
        def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
            released.wait(10)
            read_done.set()
            return "late answer\n"

    ctx = TerminalContext(stdin=SlowInput(), stdout=io.StringIO(), stderr=io.StringIO())
    waiting = asyncio.create_task(ctx.input())
    await asyncio.sleep(0.01)
    waiting.cancel()
    await asyncio.wait([waiting])
    released.set()  # the answer arrives after nobody waits for it: it is dropped
    assert read_done.wait(10)
    await asyncio.sleep(0.05)
    assert waiting.cancelled()
