"""The conformance transcript format: a dialog's setting, the user's answers, and everything
that must happen, in order.

A ``name.transcript`` beside ``name.bas``::

    # a comment
    @config Default Content Language = pt       the bot's parameters (GET CONFIG)
    @option language = "pt"                     a dialog option before it starts (JSON)
    @table Customers = [{"Id": 1, "Name": "Ana"}]
    @store color = "blue"
    @global user = "ana"                        a global variable the dialog starts with
    @service mail                               a recording service answering null
    @service http = {"price": 10}               … answering this JSON value
    Hello, what is your name?                   a TALK
    > Ana                                       the answer to the next HEAR
    Hi, Ana.
    [menu] Yes | No                             options offered by a menu HEAR
    [wait] 5                                    a WAIT
    [log] text                                  a LOG / DEBUG
    [call mail] SEND MAIL ["a@b.c", "Hi", "x"]  a call that reached a recording service
    !error 12: division by zero                 how it ended: a runtime error at line 12 …
    => "OK"                                     … or the value of a top-level RETURN
    [table Customers] [{"Id": 1, "Name": "Ana"}]   the table's rows after the run
    [store] {"color": "blue"}                      the SET/GET store after the run

A TALK that is empty or starts with a space or one of ``# @ > [ ! = \\`` is written with a
leading ``\\``; a line break inside a TALK is written ``\\n``. JSON payloads are compared by
value (``1`` and ``1.0`` are the same number).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_ESCAPED = ("#", "@", ">", "[", "!", "=", "\\")


class FormatError(ValueError):
    """A malformed transcript (the message names the file and line)."""


def canonical(value: Any) -> str:
    """JSON text of a BASIC value: integral numbers without ``.0``, dates as ISO text, NaN and
    infinities by name, keys in their order."""
    return json.dumps(_plain(value), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return int(value) if float(value).is_integer() and abs(value) < 2**53 else value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return repr(value)


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}: not JSON: {text!r} ({exc.msg})") from None


@dataclass
class Transcript:
    """A parsed transcript: the setting, the answers, and the expected lines (normalized)."""

    config: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    store: dict[str, Any] = field(default_factory=dict)
    globals: dict[str, Any] = field(default_factory=dict)
    services: dict[str, Any] = field(default_factory=dict)
    inputs: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # [table X] / [store] lines, in order

    @classmethod
    def parse(cls, text: str, name: str = "<transcript>") -> Transcript:
        out = cls()
        for number, raw in enumerate(text.splitlines(), start=1):
            where = f"{name}:{number}"
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("@"):
                out._setting(line[1:], where)
            elif line.startswith("> ") or line == ">":
                out.inputs.append(line[2:])
                out.expected.append(f"> {line[2:]}")
            elif line.startswith("\\"):
                out.expected.append(line)  # compared escaped, as render_event writes it
            elif line.startswith("[table ") or line.startswith("[store]"):
                head, _, payload = line.partition("] ")
                out.checks.append(f"{head}] {canonical(_json(payload, where))}")
            elif line.startswith(("[call ", "=> ")):
                head, sep, payload = line.partition("] " if line.startswith("[") else " ")
                if line.startswith("[call "):
                    keyword, _, args = payload.partition(" [")
                    payload_text = f"{keyword} {canonical(_json('[' + args, where))}"
                    out.expected.append(f"{head}{sep}{payload_text}")
                else:
                    out.expected.append(f"=> {canonical(_json(payload, where))}")
            elif line.startswith(("[menu]", "[wait]", "[log]", "!error ")):
                out.expected.append(line)
            elif line.startswith(_ESCAPED):
                raise FormatError(f"{where}: a TALK starting with {line[0]!r} needs a \\")
            else:
                out.expected.append(line)
        return out

    def _setting(self, text: str, where: str) -> None:
        word, _, rest = text.partition(" ")
        key, sep, value = rest.partition("=")
        key = key.strip()
        if word == "service":
            self.services[key] = _json(value, where) if sep else None
        elif not sep:
            raise FormatError(f"{where}: @{word} needs 'name = value'")
        elif word == "config":
            self.config[key] = value.strip()
        elif word == "option":
            self.options[key] = _json(value, where)
        elif word == "table":
            self.tables[key] = _json(value, where)
        elif word == "store":
            self.store[key] = _json(value, where)
        elif word == "global":
            self.globals[key] = _json(value, where)
        else:
            raise FormatError(f"{where}: unknown setting @{word}")


def read(path: Path) -> Transcript:
    return Transcript.parse(path.read_text(encoding="utf-8"), path.name)


def render_event(kind: str, value: Any) -> str:
    """One recorded event as a transcript line."""
    if kind == "talk":
        text = str(value).replace("\n", "\\n")  # one message, one line
        plain = text and not text.startswith(_ESCAPED) and not text[0].isspace()
        return text if plain else "\\" + text
    if kind == "hear":
        return f"> {value}"
    if kind == "menu":
        return "[menu] " + " | ".join(str(v) for v in value)
    if kind == "wait":
        return f"[wait] {canonical(value)}"
    if kind == "log":
        return "[log] " + str(value).replace("\n", "\\n")
    if kind == "call":
        service, keyword, args = value
        return f"[call {service}] {keyword} {canonical(args)}"
    raise ValueError(f"unknown event kind {kind!r}")
