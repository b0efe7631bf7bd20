"""BASIC values as YAML text: what LOG / DEBUG write (the original logged ``toYAML(obj)``).

Numbers print as JavaScript prints them (``7``, not ``7.0``), dates as ISO text; strings are
plain unless YAML would read them as something else, then double-quoted.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from ..runtime.semantics import number_text

# Plain scalars YAML might not read back as the same text: empty, YAML 1.1's special words,
# anything starting like a number (0x1f, 1:20, 2024-03-05, .inf), leading indicators,
# ": " or " #" inside, surrounding spaces, line breaks.
_NEEDS_QUOTES = re.compile(
    r"^$|^(?:true|false|null|yes|no|on|off|y|n|~|<<|=)$|^[\d.+-]"
    r"|^[?:,\[\]{}#&*!|>'\"%@`\s]|: |\s#|\s$|:$|[\n\r\t\ufeff]",
    re.IGNORECASE,
)
# Characters YAML does not allow in a document, or reads as line breaks: written as escapes
# inside quotes.
_UNPRINTABLE = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def scalar(value: Any) -> str:
    """One value on one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return number_text(float(value))
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    if not (_NEEDS_QUOTES.search(text) or _UNPRINTABLE.search(text)):
        return text
    quoted = json.dumps(text, ensure_ascii=False)  # JSON strings are YAML double-quoted ones
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def to_yaml(value: Any, indent: int = 0) -> str:
    """``value`` as a YAML document (without a trailing line break)."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return pad + "{}"
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list | tuple) and item:
                lines.append(f"{pad}{scalar(str(key))}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{scalar(str(key))}: {_inline(item)}")
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        if not value:
            return pad + "[]"
        lines = []
        for item in value:
            if isinstance(item, dict | list | tuple) and item:
                nested = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {nested.lstrip()}")
            else:
                lines.append(f"{pad}- {_inline(item)}")
        return "\n".join(lines)
    return pad + scalar(value)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list | tuple):
        return "[]"
    return scalar(value)
