"""The debugger's REST API, as the original exposed it: ``POST /debuggerService/<operation>``
with a JSON body of the original's argument names, and a Server-Sent Events stream of the
bot's debugging events.

::

    POST /debuggerService/start            {"botId", "botApiKey"?, "scriptName"?}
    POST /debuggerService/setBreakpoint    {"botId", "line"}
    POST /debuggerService/clearBreakpoint  {"botId", "line"}          (gb's addition)
    POST /debuggerService/step             {"botId"}
    POST /debuggerService/resume           {"botId"}
    POST /debuggerService/stop             {"botId"}
    POST /debuggerService/getContext       {"botId"}
    POST /debuggerService/sendMessage      {"botId", "botApiKey"?, "text"}
    POST /debuggerService/refactor         {"botId", "code"?, "change"}
    GET  /debuggerService/events?botId=…[&follow=false]   text/event-stream

A successful call answers 200 with ``{"status": "OK", …}``; one that cannot be done answers
``{"error": message}`` with 400 (bad input), 404 (no such script), 409 (wrong state) or 422
(the script does not compile; ``diagnostics`` lists the compiler's). The event stream sends
``event: <kind>`` / ``data: <json>`` pairs, a comment every ``heartbeat`` seconds while idle,
and with ``follow=false`` ends after the run finishes, fails or is stopped. FastAPI is used
here only: the control plane mounts this router (authentication is its business).
"""

# ruff: noqa: N803, N815 (argument and field names are the original API's)

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict

from .events import TERMINAL
from .service import CompileFailedError, DebuggerError, DebuggerService


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    botId: str


class StartBody(_Body):
    botApiKey: str | None = None
    scriptName: str | None = None


class LineBody(_Body):
    line: int | str


class MessageBody(_Body):
    botApiKey: str | None = None
    text: str


class RefactorBody(_Body):
    code: str | None = None
    change: list[dict[str, Any]]


async def _answer(call: Callable[[], Awaitable[dict[str, Any]]]) -> JSONResponse:
    try:
        return JSONResponse(await call())
    except CompileFailedError as exc:
        body = {"error": exc.message, "diagnostics": exc.diagnostics}
        return JSONResponse(body, status_code=exc.status)
    except DebuggerError as exc:
        return JSONResponse({"error": exc.message}, status_code=exc.status)


def debugger_router(service: DebuggerService, *, heartbeat: float = 15.0) -> APIRouter:
    """The ``/debuggerService`` routes over ``service``."""
    router = APIRouter(prefix="/debuggerService", tags=["debugger"])

    @router.post("/start")
    async def start(body: StartBody) -> JSONResponse:
        return await _answer(lambda: service.start(body.botId, body.scriptName, body.botApiKey))

    @router.post("/setBreakpoint")
    async def set_breakpoint(body: LineBody) -> JSONResponse:
        return await _answer(lambda: service.setBreakpoint(body.botId, body.line))

    @router.post("/clearBreakpoint")
    async def clear_breakpoint(body: LineBody) -> JSONResponse:
        return await _answer(lambda: service.clearBreakpoint(body.botId, body.line))

    @router.post("/step")
    async def step(body: _Body) -> JSONResponse:
        return await _answer(lambda: service.step(body.botId))

    @router.post("/resume")
    async def resume(body: _Body) -> JSONResponse:
        return await _answer(lambda: service.resume(body.botId))

    @router.post("/stop")
    async def stop(body: _Body) -> JSONResponse:
        return await _answer(lambda: service.stop(body.botId))

    @router.post("/getContext")
    async def get_context(body: _Body) -> JSONResponse:
        return await _answer(lambda: service.getContext(body.botId))

    @router.post("/sendMessage")
    async def send_message(body: MessageBody) -> JSONResponse:
        return await _answer(lambda: service.sendMessage(body.botId, body.text, body.botApiKey))

    @router.post("/refactor")
    async def refactor(body: RefactorBody) -> JSONResponse:
        return await _answer(lambda: service.refactor(body.botId, body.code, body.change))

    @router.get("/events")
    async def events(botId: str = Query(min_length=1), follow: bool = True) -> StreamingResponse:
        subscription = service.subscribe(botId)

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(subscription.get(), heartbeat)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                    if event is None:
                        return
                    payload = json.dumps(event.as_json(), ensure_ascii=False)
                    yield f"event: {event.kind}\ndata: {payload}\n\n"
                    if not follow and event.kind in TERMINAL:
                        return
            finally:
                service.unsubscribe(botId, subscription)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    return router
