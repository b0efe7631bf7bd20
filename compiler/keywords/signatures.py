"""The standard signature of every keyword the catalog calls.

With these a program can be checked (names, arity, literal kinds) before the bot runtime
supplies the implementations: ``standard_registry()`` declares them all without functions, and
``Registry.merged`` lays real implementations over it. Each signature is written as
``"name: kind, other?: kind, *rest: kind -> kind"`` (``?`` optional and nullable, ``*``
variadic); the text after ``#`` says what the keyword does, after the original.
"""

from __future__ import annotations

from ..host.registry import ParamSpec, Registry
from ..host.values import Kind

#: Keywords that wait for the user (the dialog suspends until the answer arrives).
SUSPENDING = frozenset({"HEAR"})

SIGNATURES: dict[str, str] = {
    # conversation
    "TALK": "text: any -> null  # send text to the user (translated to the user's locale)",
    "HEAR": "kind?: string, options?: any -> any  # wait for the next message; validate by kind",
    "TALK TO": "mobile: any, message: any -> null  # proactive message to a phone number",
    "PRINT FILE": "file: any, values: list -> null  # write a row to a file OPENed AS #n",
    "SET HEAR ON": "mobile: any -> null  # HEAR waits on another user's answer",
    "SHOW MENU": "-> null  # show the bot's menu",
    "TRANSFER": "to?: any -> null  # hand the conversation to an agent",
    "SET LANGUAGE": "language: string -> null  # store the user's locale",
    "SET TRANSLATOR": "on: string -> null  # turn translation of TALK on/off",
    "SET THEME": "theme: string -> null  # the user's theme option",
    "SET WHOLE WORD": "on: string -> null  # FIND 'in' matches whole values",
    "SET MAX LINES": "count: number -> null  # FIND/MERGE read limit",
    "SET MAX COLUMNS": "count: number -> null  # FIND/MERGE column limit",
    "SET OUTPUT": "value: string -> null  # ARRAY: FIND always returns a list",
    "SET FILTER": "value: any -> null  # filter used by SET on sheets",
    "SET PAGE MODE": "mode: string -> null  # 'auto' enables HTTP paging",
    "SET PARAM": "name: string, value: any -> null  # persistent per-user parameter",
    "GET CONFIG": "name: string -> any  # a bot configuration parameter",
    "CONTINUATION TOKEN": "-> any  # the stored HTTP paging token",
    "ALLOW ROLE": "role: string -> any  # stop unless the user has the role",
    "SEND MAIL": "to: any, subject: any, body: any -> null  # send an e-mail",
    "SEND SMS TO": "mobile: any, message: any -> null  # send an SMS",
    "SEND FILE": "file: any, caption?: any -> null  # send a file to the user",
    "SEND FILE TO": "mobile: any, file: any, caption?: any -> null  # send a file to a number",
    "SEND TEMPLATE TO": "mobile: any, file: any -> null  # WhatsApp template broadcast",
    "WAIT": "seconds: number -> null  # pause the dialog",
    "LOG": "value: any -> null  # log a value",
    "ADD NOTE": "text: any -> null  # append a note",
    "USER OF": "username: string -> any  # {displayName, mobile, email} of a user",
    "FORMAT": "value: any, format: string -> string  # format a date or number",
    "DATEADD": "date: any, mode: string, units: number -> any  # date arithmetic",
    "DATEDIFF": "date1: any, date2: any, mode: string -> number  # difference in units",
    "CARD": "doc: any, data: any -> any  # render a card",
    "CREATE DEAL": "name: any, contact: any, company: any, amount: any -> any  # CRM deal",
    "ACTIVE TASKS": "-> any  # the user's active tasks",
    "FIND CONTACT": "name: any -> any  # look a contact up",
    "GO TO": "dialog: any, then?: any -> null  # run a dialog (or set a user's next dialog)",
    # data
    "FIND": "source: any, *criteria: any -> any  # rows of a sheet/CSV/table matching filters",
    "SELECT": "data: any, sql: string -> any  # SQL over a list of rows",
    "SAVE": "file: any, values: list, names: list -> any  # append/insert a row (or rows)",
    "SAVE AS": "data: any, file: string -> any  # write a file to the drive",
    "DELETE": "target: any, criteria?: any -> null  # delete rows, or a file",
    "MERGE": "file: any, data: any, key: any -> any  # upsert rows by key; updates REPORT",
    "RESET REPORT": "-> null  # zero the MERGE counters",
    "SYNCHRONIZE": (
        "path: string, table: string, key: string, page: string, limit: string -> null"
        "  # page through a REST list and MERGE it"
    ),
    "SET HEADER": "name: string, value: any -> null  # an HTTP header for GET/POST/PUT",
    "SET HTTP USERNAME": "value: any -> null  # basic-auth user for GET",
    "SET HTTP PASSWORD": "value: any -> null  # basic-auth password for GET",
    "SET": "target: any, address: any, value?: any -> null  # write a sheet cell / type on a page",
    "GET STOCK FOR": "symbol: string -> any  # a stock quote",
    "GET IMAGE": "prompt: any -> any  # generate an image",
    "GET": "address: any -> any  # HTTP GET, a drive PDF's text, a sheet cell, a page element",
    "GET ELEMENT": "frame: any, selector?: any -> any  # a page element (in a frame)",
    "POST": "url: string, data: any -> any  # HTTP POST",
    "PUT": "url: string, data: any -> any  # HTTP PUT",
    "DIR": "path: any -> any  # list a drive folder",
    "UPLOAD": "file: any -> any  # upload a file to the drive",
    "COPY": "src: any, dest: any -> null  # copy a drive file",
    "CONVERT": "src: any, dest: any -> null  # convert a document",
    "CREATE FOLDER": "name: any -> any  # create a drive folder",
    "SHARE FOLDER": "folder: any, email?: any, message?: any -> null  # share a drive folder",
    "FILL": "template: any, data: any -> any  # fill a document template",
    "AS IMAGE": "data: any -> any  # render a table as an image",
    "AS PDF": "data: any -> any  # render a table as a PDF",
    "SORT": "list: any, member: string -> any  # sort rows by a member",
    "APPEND": "*items: any -> list  # concatenate lists, dropping empty items",
    "AUTO SAVE": "handle: any -> any  # store an upload in the drive",
    "REFRESH": "connection: any -> null  # drop a data source's cache",
    "OPEN FILE": "file: any, number: number, mode?: string -> null  # OPEN … AS #n",
    "OPEN": (
        "url: any, username?: any, password?: any, kind?: string, session?: any -> any"
        "  # open (or share) a browser page"
    ),
    "CLOSE": "file?: any -> null  # close a file number",
    "PAY": "order: any, customer: any, amount: number -> any  # QR-code payment",
    "CHART": "type: string, data: any, legends?: any, transpose?: boolean -> any  # a chart",
    "CHART PROMPT": "type: any, data: any, prompt: any -> any  # an LLM-designed chart",
    # web automation
    "CLICK": "frame: any, selector?: any -> null  # click an element",
    "CLICK LINK TEXT": "text: any, index?: number -> null  # click a link by its text",
    "CLICK BUTTON": "text: any, index?: number -> null  # click a button by its text",
    "HOVER": "selector: any -> null  # move the mouse over an element",
    "PRESS": "key: any -> null  # press a key",
    "TEXT OF": "frame: any, selector?: any -> any  # an element's text",
    "SCREENSHOT": "selector?: any -> any  # a screenshot of the page or an element",
    "DOWNLOAD": "selector: any, folder: any -> any  # download what a link points to",
    # AI, images, social
    "SET CONTEXT": "text: any -> null  # the user's LLM system prompt (resets memory)",
    "SET ANSWER MODE": "mode: any -> null  # the user's LLM answer mode",
    "ANSWER": "text: any -> any  # answer with the LLM over the knowledge base",
    "REWRITE": "text: any -> any  # a raw LLM completion",
    "SHOW IMAGE": "file: any -> null  # show an image",
    "SEE CAPTION": "url: any -> any  # describe an image",
    "SEE TEXT": "url: any -> any  # OCR an image",
    "BLUR": "file: any -> any  # blur an image",
    "SHARPEN": "file: any -> any  # sharpen an image",
    "MERGE IMAGE": "files: list -> any  # merge images",
    "TWEET": "text: any -> null  # post to X",
    "POST TO INSTAGRAM": (
        "username: any, password: any, image: any, caption: any -> null  # post to Instagram"
    ),
    "CREATE A BOT FARM USING": "spec: any -> any  # create bots from a spreadsheet",
    "SYSTEM PROMPT": "text: string -> null  # BEGIN SYSTEM PROMPT: the user's system prompt",
}

_KINDS = {kind.value: kind for kind in Kind}


def parse_signature(name: str, text: str) -> tuple[list[ParamSpec], Kind]:
    """The parameters and return kind written in ``text``; ValueError if malformed."""
    spec = text.split("#", 1)[0]
    params_text, arrow, returns_text = spec.partition("->")
    if not arrow:
        raise ValueError(f"{name}: signature {text!r} has no '->'")
    params: list[ParamSpec] = []
    for item in filter(None, (p.strip() for p in params_text.split(","))):
        pname, colon, kind_text = item.partition(":")
        kind = _KINDS.get(kind_text.strip())
        if not colon or kind is None:
            raise ValueError(f"{name}: bad parameter {item!r}")
        variadic = pname.startswith("*")
        optional = pname.endswith("?")
        params.append(
            ParamSpec(
                pname.strip("*? "), kind, optional=optional, nullable=optional, variadic=variadic
            )
        )
    returns = _KINDS.get(returns_text.strip())
    if returns is None:
        raise ValueError(f"{name}: bad return kind {returns_text.strip()!r}")
    return params, returns


def standard_registry() -> Registry:
    """A registry declaring every standard keyword (signatures only, no implementations)."""
    registry = Registry()
    for name, text in SIGNATURES.items():
        params, returns = parse_signature(name, text)
        registry.declare(name, params, returns, suspends=name in SUSPENDING)
    return registry


def description(name: str) -> str:
    """What keyword ``name`` does (the comment of its signature)."""
    return SIGNATURES[name].split("#", 1)[1].strip()
