"""The keywords whose library comes with the bot runtime, and the service each one needs.

Each is registered with its standard signature and an implementation that hands the call to
the context's service of that name (``ctx.services["mail"].call("SEND MAIL", args)``). A host
without the service ends the dialog with ``SEND MAIL needs the mail service, not available in
this host`` — never a made-up result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .context import HostContext

#: Keyword → the service that performs it.
SERVICE_OF: dict[str, str] = {
    # messaging channels
    "TALK TO": "messaging",
    "SEND FILE": "messaging",
    "SEND FILE TO": "messaging",
    "SEND TEMPLATE TO": "messaging",
    "SEND SMS TO": "sms",
    "SEND MAIL": "mail",
    # people, roles, conversation routing
    "USER OF": "users",
    "ALLOW ROLE": "security",
    "SHOW MENU": "menu",
    "TRANSFER": "handoff",
    "GO TO": "dialogs",
    "CARD": "cards",
    "CREATE DEAL": "crm",
    "ACTIVE TASKS": "crm",
    "FIND CONTACT": "crm",
    # network and data sources
    "POST": "http",
    "PUT": "http",
    "SYNCHRONIZE": "http",
    "GET STOCK FOR": "http",
    "SELECT": "sql",
    "REFRESH": "data",
    # drive and documents
    "SAVE AS": "drive",
    "DIR": "drive",
    "UPLOAD": "drive",
    "COPY": "drive",
    "CONVERT": "drive",
    "CREATE FOLDER": "drive",
    "SHARE FOLDER": "drive",
    "AUTO SAVE": "drive",
    "FILL": "documents",
    "AS IMAGE": "documents",
    "AS PDF": "documents",
    "CHART": "chart",
    "CHART PROMPT": "chart",
    "PAY": "payment",
    # web automation
    "OPEN": "web",
    "GET ELEMENT": "web",
    "CLICK": "web",
    "CLICK LINK TEXT": "web",
    "CLICK BUTTON": "web",
    "HOVER": "web",
    "PRESS": "web",
    "TEXT OF": "web",
    "SCREENSHOT": "web",
    "DOWNLOAD": "web",
    # AI, vision, images, social networks
    "SYSTEM PROMPT": "ai",
    "SET CONTEXT": "ai",
    "SET ANSWER MODE": "ai",
    "ANSWER": "ai",
    "REWRITE": "ai",
    "GET IMAGE": "image",
    "SHOW IMAGE": "image",
    "BLUR": "image",
    "SHARPEN": "image",
    "MERGE IMAGE": "image",
    "SEE CAPTION": "vision",
    "SEE TEXT": "vision",
    "TWEET": "social",
    "POST TO INSTAGRAM": "social",
    "CREATE A BOT FARM USING": "social",
}


def delegate(keyword: str, service: str) -> Callable[..., Awaitable[Any]]:
    """The implementation of ``keyword``: call ``service`` with the keyword's arguments."""

    async def call_service(ctx: HostContext, *args: Any) -> Any:
        return await ctx.service(service, keyword).call(keyword, list(args))

    call_service.__name__ = "_".join(keyword.lower().split())
    call_service.__doc__ = f"{keyword}: performed by the {service} service."
    return call_service
