"""The debugger service end to end: real dialogs compiled and run in wasmtime, paused at
breakpoints, stepped, answered, inspected, refactored and stopped, with their events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gb.compiler import Limits
from gb.compiler.debugger import (
    CompileFailedError,
    ConflictError,
    DebugEvent,
    DebuggerError,
    DebuggerService,
    DebugState,
    DirectorySource,
    MemorySource,
    NotFoundError,
    ScriptNotFoundError,
    Subscription,
)

SHOP = """\
TALK "Welcome to the shop"
FUNCTION Total(price, qty)
    amount = price * qty
    Total = amount
END FUNCTION
TALK "How many pens?"
HEAR qty AS INTEGER
sum = Total(2.5, qty)
TALK "That is " + sum
RETURN sum
"""

BROKEN = """\
TALK "start"
x = 1 / 0
"""

LOOP = """\
n = 0
DO WHILE TRUE
    n = n + 1
LOOP
"""


async def next_event(sub: Subscription, kind: str, timeout: float = 10.0) -> DebugEvent:
    """The next event of ``kind`` (earlier events of other kinds are skipped)."""

    async def wait() -> DebugEvent:
        while True:
            event = await sub.get()
            assert event is not None, f"subscription closed while waiting for {kind}"
            if event.kind == kind:
                return event

    return await asyncio.wait_for(wait(), timeout)


@pytest.fixture
def service() -> DebuggerService:
    scripts = {("shop", "start"): SHOP, ("shop", "broken"): BROKEN, ("shop", "loop"): LOOP}
    return DebuggerService(MemorySource(scripts))


async def test_breakpoint_inspect_step_resume_answer_finish(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    assert (await service.setBreakpoint("shop", "3")) == {"status": "OK", "breaks": [3]}
    assert await service.start("shop") == {"status": "OK"}
    assert (await next_event(sub, "started")).data == {"script": "start"}
    assert (await next_event(sub, "output")).data == {"text": "Welcome to the shop"}
    await next_event(sub, "output")
    await next_event(sub, "waiting")
    context = await service.getContext("shop")
    assert context["waiting"] is True and context["state"] == DebugState.RUNNING
    assert await service.sendMessage("shop", "I want 4") == {"status": "OK"}

    paused = await next_event(sub, "paused")
    assert (paused.line, paused.data, paused.state) == (3, {"reason": "breakpoint"},
                                                        DebugState.BREAK)  # fmt: skip
    context = await service.getContext("shop")
    assert context["state"] == 2 and context["stateInfo"] == "Break"
    assert context["line"] == 3
    assert [frame["name"].lower() for frame in context["callStack"]] == ["total", "(main)"]
    assert context["callStack"][1]["line"] == 8
    assert context["variables"]["price"] == 2.5 and context["variables"]["qty"] == 4
    assert "price: 2.5" in context["scope"]
    assert context["messages"] == "Welcome to the shop\nHow many pens?"
    assert context["messageList"] == ["Welcome to the shop", "How many pens?"]

    assert await service.step("shop") == {"status": "OK"}
    await next_event(sub, "resumed")
    stepped = await next_event(sub, "paused")
    assert (stepped.line, stepped.data) == (4, {"reason": "step"})
    assert (await service.getContext("shop"))["variables"]["amount"] == 10
    assert await service.resume("shop") == {"status": "OK"}
    assert (await next_event(sub, "output")).data == {"text": "That is 10"}
    finished = await next_event(sub, "finished")
    assert finished.data == {"result": 10} and finished.state == DebugState.STOPPED
    context = await service.getContext("shop")
    assert (context["state"], context["stateInfo"]) == (0, "Stopped")
    assert finished.as_json()["stateInfo"] == "Stopped"


async def test_start_from_a_pause_resumes(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.setBreakpoint("shop", 1)
    await service.start("shop")
    await next_event(sub, "paused")
    assert await service.start("shop") == {"status": "OK"}  # as the original: resume
    await next_event(sub, "resumed")
    await next_event(sub, "waiting")
    with pytest.raises(ConflictError, match=r"Cannot DEBUG an already running process\. shop"):
        await service.start("shop")
    await service.stop("shop")


async def test_breakpoints_change_while_running(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.start("shop")
    await next_event(sub, "waiting")
    await service.setBreakpoint("shop", 9)
    assert await service.clearBreakpoint("shop", 9) == {"status": "OK", "breaks": []}
    await service.setBreakpoint("shop", 8)
    await service.sendMessage("shop", "1")
    assert (await next_event(sub, "paused")).line == 8
    await service.clearBreakpoint("shop", "8")
    await service.resume("shop")
    await next_event(sub, "finished")
    assert await service.clearBreakpoint("other", 1) == {"status": "OK", "breaks": []}


async def test_runtime_error_fails_the_session(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.start("shop", "broken")
    error = await next_event(sub, "error")
    assert (error.line, error.data) == (2, {"message": "division by zero"})
    context = await service.getContext("shop")
    assert context["state"] == DebugState.FAIL
    assert context["stateInfo"] == "Fail: broken.bas:2: runtime error: division by zero"
    with pytest.raises(ConflictError, match="Cannot sendMessage to an stopped process"):
        await service.sendMessage("shop", "x")


async def test_stop_while_waiting_and_while_running(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.start("shop")
    await next_event(sub, "waiting")
    assert await service.stop("shop") == {"status": "OK"}
    stopped = await next_event(sub, "stopped")
    assert stopped.state == DebugState.STOPPED
    context = await service.getContext("shop")
    assert context["waiting"] is False and context["line"] == 7
    await service.start("shop", "loop")
    await asyncio.sleep(0.05)  # an endless loop still yields to the event loop
    assert (await service.getContext("shop"))["variables"]["n"] > 0
    await service.stop("shop")
    assert (await service.getContext("shop"))["state"] == DebugState.STOPPED


async def test_state_errors_and_bad_input(service: DebuggerService) -> None:
    with pytest.raises(
        ConflictError, match=r"Invalid call to resume and state not being debug\(2\)"
    ):
        await service.resume("shop")
    with pytest.raises(ConflictError, match=r"Invalid call to stepOver"):
        await service.step("shop")
    with pytest.raises(NotFoundError, match="bot shop has no script 'nope'"):
        await service.start("shop", "nope")
    with pytest.raises(DebuggerError, match="botId is required"):
        await service.getContext("")
    with pytest.raises(DebuggerError, match="line must be a whole number, got 'x'"):
        await service.setBreakpoint("shop", "x")
    with pytest.raises(DebuggerError, match="line must be 1 or more, got 0"):
        await service.setBreakpoint("shop", 0)
    await service.start("shop")
    with pytest.raises(DebuggerError, match="text must be a string"):
        await service.sendMessage("shop", 5)  # type: ignore[arg-type]
    await service.stop("shop")
    context = await service.getContext("never-started")
    assert context["line"] is None and context["variables"] == {} and context["state"] == 0


async def test_compile_errors_fail_start(service: DebuggerService) -> None:
    service.sources.save("shop", "bad", 'TALK "a"\nIF x THEN\n')  # type: ignore[attr-defined]
    sub = service.subscribe("shop")
    with pytest.raises(CompileFailedError) as info:
        await service.start("shop", "bad.bas")
    assert info.value.status == 422 and info.value.line == 3
    assert info.value.diagnostics[0]["message"].startswith("expected END IF")
    error = await next_event(sub, "error")
    assert error.line == 3 and error.state == DebugState.FAIL
    assert (await service.getContext("shop"))["stateInfo"].startswith("Fail: bad.bas:3:")


async def test_refactor_applies_edits_saves_and_restarts(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.start("shop")
    await next_event(sub, "waiting")
    change = [{"line": 1, "delete": 1, "insert": ['TALK "Welcome back"']},
              {"line": 9, "delete": 1, "insert": 'TALK "Total: " + sum'}]  # fmt: skip
    answer = await service.refactor("shop", None, change)
    assert answer["status"] == "OK"
    assert answer["code"].splitlines()[0] == 'TALK "Welcome back"'
    refactored = await next_event(sub, "refactored")
    assert refactored.data["code"] == answer["code"]
    assert service.sources.load("shop", "start") == answer["code"]  # type: ignore[attr-defined]
    assert (await next_event(sub, "output")).data == {"text": "Welcome back"}
    await next_event(sub, "waiting")
    await service.sendMessage("shop", "2")
    assert (await next_event(sub, "output")).data == {"text": "Total: 5"}
    await next_event(sub, "finished")
    # Another code given explicitly; a stopped session restarts too.
    again = await service.refactor("shop", 'TALK "one"\n', [{"line": 2, "insert": ['TALK "two"']}])
    assert again["code"] == 'TALK "one"\nTALK "two"\n'
    assert (await next_event(sub, "output")).data == {"text": "one"}
    assert (await next_event(sub, "output")).data == {"text": "two"}
    await next_event(sub, "finished")


async def test_refactor_refuses_bad_changes_and_keeps_running(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    with pytest.raises(DebuggerError, match="change must be a list of edits"):
        await service.refactor("shop", None, "rewrite it")
    with pytest.raises(DebuggerError, match="edit 1: line 99 is past the end"):
        await service.refactor("shop", None, [{"line": 99}])
    await service.start("shop")
    await next_event(sub, "waiting")
    with pytest.raises(CompileFailedError, match="expected"):
        await service.refactor("shop", None, [{"line": 1, "delete": 1, "insert": ["IF"]}])
    assert (await service.getContext("shop"))["state"] == DebugState.RUNNING
    await service.sendMessage("shop", "1")
    await next_event(sub, "finished")
    with pytest.raises(NotFoundError):
        await service.refactor("ghost", None, [])


async def test_context_options_give_services_and_config() -> None:
    calls: list[tuple[str, list[Any]]] = []

    class Mail:
        async def call(self, keyword: str, args: Sequence[Any]) -> Any:
            calls.append((keyword, list(args)))

    script = 'admin = GET CONFIG "Admin"\nSEND MAIL admin, "Hi", "Body"\nWAIT 0.01\n'
    service = DebuggerService(
        MemorySource({("bot", "start"): script}),
        context_options=lambda bot: {
            "config": {"Admin": f"{bot}@example.com"},
            "services": {"mail": Mail()},
        },
    )
    sub = service.subscribe("bot")
    await service.start("bot")
    await next_event(sub, "finished")
    assert calls == [("SEND MAIL", ["bot@example.com", "Hi", "Body"])]


async def test_subscriptions(service: DebuggerService) -> None:
    sub = service.subscribe("shop", limit=2)
    await service.start("shop")
    await asyncio.sleep(0.05)
    assert sub.dropped >= 1  # started, output, output, waiting: the oldest were dropped
    service.unsubscribe("shop", sub)
    events = [event async for event in sub]
    assert len(events) <= 2
    sub.deliver(events[0])  # a closed subscription takes nothing more
    assert sub.queue.empty()
    sub.close()  # closing twice is harmless
    full = Subscription(limit=1)
    full.deliver(events[0])
    full.close()  # the end marker replaces the oldest event when full
    assert [event async for event in full] == [] and full.dropped == 1
    await service.close()
    assert service.sessions["shop"].task is None


async def test_close_stops_runs_and_ends_subscriptions(service: DebuggerService) -> None:
    sub = service.subscribe("shop")
    await service.start("shop")
    await next_event(sub, "waiting")
    await service.close()
    assert [event async for event in sub] == []
    assert service.sessions["shop"].task is None


def test_directory_source(tmp_path: Path) -> None:
    source = DirectorySource(tmp_path)
    folder = tmp_path / "shop.gbai" / "shop.gbdialog"
    folder.mkdir(parents=True)
    (folder / "start.bas").write_text('TALK "hi"\n', encoding="utf-8")
    assert source.load("shop", "start.bas") == 'TALK "hi"\n'
    source.save("shop", "other", "TALK 1\n")
    assert (folder / "other.bas").read_text(encoding="utf-8") == "TALK 1\n"
    assert source.loader("shop")("other.bas") == "TALK 1\n"
    with pytest.raises(ScriptNotFoundError, match="bot shop has no script 'missing'"):
        source.load("shop", "missing")
    with pytest.raises(ValueError, match=r"bad bot id '\.\./x'"):
        source.path("../x", "start")
    with pytest.raises(ValueError, match=r"bad script name 'a/b'"):
        source.path("shop", "a/b")
    with pytest.raises(ValueError, match="bad script name"):
        source.path("shop", "a..b")


async def test_directory_source_names_are_checked_by_the_service(tmp_path: Path) -> None:
    service = DebuggerService(DirectorySource(tmp_path))
    with pytest.raises(DebuggerError, match="bad script name"):
        await service.start("shop", "../../etc/passwd")
    memory = MemorySource()
    memory.save("b", "lib.bas", "FUNCTION F()\nF = 1\nEND FUNCTION\n")
    memory.save("b", "start", 'INCLUDE lib.bas\nTALK "f=" + F()\n')
    service = DebuggerService(memory)
    sub = service.subscribe("b")
    await service.start("b")
    assert (await next_event(sub, "output")).data == {"text": "f=1"}


async def test_limits_too_small_for_the_program() -> None:
    service = DebuggerService(MemorySource({("b", "start"): SHOP}), limits=Limits(memory_bytes=1))
    with pytest.raises(DebuggerError, match=r"Limits\.memory_bytes 1 is too small"):
        await service.start("b")
