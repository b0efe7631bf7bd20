"""The debugger's REST endpoints and event stream, through FastAPI over httpx's ASGI
transport (the app runs in the test's event loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gb.compiler.debugger import DebuggerService, MemorySource
from gb.compiler.debugger.rest import debugger_router

SCRIPT = """\
TALK "Hello"
HEAR name
TALK "Hi " + name
"""


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, DebuggerService]]:
    service = DebuggerService(MemorySource({("bot", "start"): SCRIPT}))
    app = FastAPI()
    app.include_router(debugger_router(service, heartbeat=0.05))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://debugger") as http:
        yield http, service
    await service.close()


async def post(http: httpx.AsyncClient, operation: str, **body: Any) -> httpx.Response:
    return await http.post(f"/debuggerService/{operation}", json=body)


def parse_stream(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith(":")]
        if lines:
            kind = lines[0].removeprefix("event: ")
            events.append((kind, json.loads(lines[1].removeprefix("data: "))))
    return events


async def until(check: Any, timeout: float = 10.0) -> None:
    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_a_debugging_session_over_rest(
    client: tuple[httpx.AsyncClient, DebuggerService],
) -> None:
    http, service = client
    stream = asyncio.create_task(
        http.get("/debuggerService/events", params={"botId": "bot", "follow": "false"})
    )
    await until(lambda: _subscribed(service))
    answer = await post(http, "setBreakpoint", botId="bot", line=3)
    assert answer.status_code == 200 and answer.json() == {"status": "OK", "breaks": [3]}
    assert (await post(http, "start", botId="bot", botApiKey="k")).json() == {"status": "OK"}

    async def waiting() -> bool:
        return bool((await post(http, "getContext", botId="bot")).json()["waiting"])

    await until(waiting)
    assert (await post(http, "sendMessage", botId="bot", text="Ana")).status_code == 200

    async def paused() -> bool:
        return bool((await post(http, "getContext", botId="bot")).json()["state"] == 2)

    await until(paused)
    context = (await post(http, "getContext", botId="bot")).json()
    assert context["line"] == 3 and context["variables"]["name"] == "Ana"
    assert context["messages"] == "Hello" and context["scopeInfo"] == "Break"
    assert (await post(http, "step", botId="bot")).json() == {"status": "OK"}
    response = await stream
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_stream(response.text)
    assert [kind for kind, _ in events] == [
        "started", "output", "waiting", "paused", "resumed", "output", "finished"]  # fmt: skip
    assert events[1][1]["text"] == "Hello" and events[3][1]["line"] == 3
    assert events[5][1]["text"] == "Hi Ana"
    assert events[-1][1] == {
        "kind": "finished", "botId": "bot", "state": 0, "stateInfo": "Stopped",
        "line": 3, "result": None}  # fmt: skip
    assert not service.sessions["bot"].subscribers  # the stream unsubscribed


async def _subscribed(service: DebuggerService) -> bool:
    return "bot" in service.sessions and bool(service.sessions["bot"].subscribers)


async def test_errors_map_to_http_statuses(
    client: tuple[httpx.AsyncClient, DebuggerService],
) -> None:
    http, _ = client
    conflict = await post(http, "resume", botId="bot")
    assert conflict.status_code == 409
    assert conflict.json() == {"error": "Invalid call to resume and state not being debug(2)."}
    assert (await post(http, "step", botId="bot")).status_code == 409
    missing = await post(http, "start", botId="bot", scriptName="nope")
    assert missing.status_code == 404 and "no script 'nope'" in missing.json()["error"]
    bad = await post(http, "setBreakpoint", botId="bot", line="ten")
    assert bad.status_code == 400
    assert (await post(http, "clearBreakpoint", botId="bot", line=1)).json()["breaks"] == []
    assert (await post(http, "start")).status_code == 422  # no botId: FastAPI validation
    assert (await post(http, "stop", botId="bot", extra=1)).status_code == 422
    broken = await post(http, "refactor", botId="bot", change=[{"line": 1, "insert": ["IF"]}])
    assert broken.status_code == 422
    assert broken.json()["diagnostics"][0]["line"] == 1
    refused = await post(http, "sendMessage", botId="bot", text="x")
    assert refused.status_code == 409


async def test_refactor_and_stop_over_rest(
    client: tuple[httpx.AsyncClient, DebuggerService],
) -> None:
    http, service = client
    answer = await post(http, "refactor", botId="bot", code='TALK "a"\nHEAR x\n',
                        change=[{"line": 1, "delete": 1, "insert": ['TALK "b"']}])  # fmt: skip
    assert answer.status_code == 200 and answer.json()["code"] == 'TALK "b"\nHEAR x\n'

    async def waiting() -> bool:
        return bool((await post(http, "getContext", botId="bot")).json()["waiting"])

    await until(waiting)
    assert (await post(http, "getContext", botId="bot")).json()["messageList"] == ["b"]
    assert (await post(http, "stop", botId="bot")).json() == {"status": "OK"}
    assert service.sessions["bot"].task is None


async def test_event_stream_heartbeats_and_ends_with_the_service(
    client: tuple[httpx.AsyncClient, DebuggerService],
) -> None:
    http, service = client
    stream = asyncio.create_task(http.get("/debuggerService/events", params={"botId": "bot"}))
    await until(lambda: _subscribed(service))
    await asyncio.sleep(0.15)  # idle: heartbeats
    await service.close()  # ends every subscription, so the follow stream ends too
    text = (await stream).text
    assert text.startswith(": connected\n\n") and ": heartbeat\n\n" in text
    assert parse_stream(text) == []
    assert (await http.get("/debuggerService/events", params={"botId": ""})).status_code == 422
