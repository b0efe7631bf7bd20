"""The lexer: BASIC source text → tokens with 1-based line and column.

Lines matter in this dialect, so the lexer works line by line:

* a leading line number (``10 TALK "x"``) is dropped, as the original did;
* a line ending in `` _`` continues on the next one; otherwise each line ends with NEWLINE
  (``:`` separates statements within a line — the parser's business);
* ``REM`` and a ``'`` at the start of a statement begin a comment. Elsewhere ``'`` is
  ambiguous: the original passed expressions through as JavaScript, where ``'…'`` is a string,
  while BASIC authors write ``x = 1 ' note``. A ``'`` after an operand (a name that is not a
  keyword, a number, a string, a closing bracket) — or without a closing ``'`` on the line —
  starts a comment; otherwise it is a single-quoted string (no interpolation);
* ``"…"`` strings (also opened/closed by ``“ ” ¨`` and the back-tick, which the original all
  turned into back-ticks) are JavaScript template literals: backslash escapes and ``${expr}``
  interpolation (the expression's source and position are kept for the parser);
* the rest of a ``PARAM``, ``DESCRIPTION``, ``INCLUDE``, ``SET SCHEDULE`` line, the SQL of
  ``x = SELECT …`` and the text of a ``TALK`` that does not start with a quote are one RAW
  token (free text in real dialogs; the original auto-quoted such TALK text);
* the lines between ``BEGIN TALK``/``BEGIN SYSTEM PROMPT``/``TABLE …`` and their ``END …`` are
  BLOCK tokens, one per line, untouched.

Errors (a stray character, an unterminated string) become BAD tokens that the parser reports,
so one pass finds them all and nothing here raises.
"""

from __future__ import annotations

import re

from ..diagnostics import split_lines
from .tokens import DOUBLE_QUOTES, RESERVED, SINGLE_QUOTES, Interp, StringPart, T, Token

# Longest first, so `<=` is not read as `<` then `=`.
_OPERATORS = (
    "===", "!==", "==", "!=", "<>", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=", "&=",
    "+", "-", "*", "/", "\\", "^", "&", "=", "<", ">", "(", ")", "[", "]", "{", "}", ",", ".",
    ":", ";", "#", "!", "%",
)  # fmt: skip
_WORD = re.compile(r"[^\W\d]\w*\$?")
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_HEX = re.compile(r"&[hH]([0-9A-Fa-f]+)")
_LINE_NUMBER = re.compile(r"\s*\d+(?=\s|$)")
_CONTINUATION = re.compile(r"\s_\s*$")
_UNICODE_ESCAPES = (
    re.compile(r"x([0-9A-Fa-f]{2})"),
    re.compile(r"u([0-9A-Fa-f]{4})"),
    re.compile(r"u\{([0-9A-Fa-f]{1,6})\}"),
)
_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0",
}  # fmt: skip

# Statements whose rest of line is free text (not followed by `=`, so `param = 1` assigns).
_RAW_STATEMENT = re.compile(
    r"(?P<head>(?:PARAM|DESCRIPTION|INCLUDE|SET\s+SCHEDULE)\b)(?!\s*(?:=|\.|\[|\())\s*(?P<rest>.*)",
    re.IGNORECASE,
)
_SQL = re.compile(
    r"(?P<head>[^\W\d][\w$]*(?:\s*\.\s*[^\W\d][\w$]*)*\s*=\s*)SELECT\b(?!\s+CASE\b)\s*(?P<rest>.*)",
    re.IGNORECASE,
)
_TALK_TEXT = re.compile(r"TALK\b(?!\s*(?:TO\b|=|\.|\[|\(|$))\s*(?P<rest>.*)", re.IGNORECASE)
_LINE_END = r"\s*(?:(?:'|\u2018|\u2019|REM\b).*)?$"
_BLOCK_START = {
    "TALK": re.compile(r"BEGIN\s+TALK" + _LINE_END, re.IGNORECASE),
    "SYSTEM PROMPT": re.compile(r"BEGIN\s+SYSTEM\s+PROMPT" + _LINE_END, re.IGNORECASE),
    "TABLE": re.compile(r"TABLE\s+[^\W\d]\w*(?:\s+ON\s+[^\W\d]\w*)?" + _LINE_END, re.IGNORECASE),
}
_BLOCK_END = {
    name: re.compile(r"\s*(?:\d+\s+)?END\s+" + r"\s+".join(name.split()) + r"\b", re.IGNORECASE)
    for name in _BLOCK_START
}


def _keyword_words() -> frozenset[str]:
    from ..keywords.catalog import KEYWORD_WORDS  # noqa: PLC0415 (the catalog imports syntax)

    return KEYWORD_WORDS


class Lexer:
    """Tokenizes one source text (or, with ``expression=True``, one embedded expression)."""

    def __init__(self, text: str, *, line: int = 1, col: int = 1, expression: bool = False) -> None:
        self.lines = split_lines(text)
        self.first_line = line
        self.first_col = col
        self.expression = expression
        self.keyword_words = _keyword_words()
        self.out: list[Token] = []

    # ---- driver ---------------------------------------------------------------------------

    def tokens(self) -> list[Token]:
        """All tokens, ending with EOF."""
        block: str | None = None
        logical_start = True
        for index, text in enumerate(self.lines):
            line = self.first_line + index
            offset = self.first_col - 1 if index == 0 else 0
            if block is not None:
                if _BLOCK_END[block].match(text):
                    block = None
                else:
                    self._emit(T.BLOCK, text, line, 1)
                    continue
            start = 0
            if logical_start and not self.expression:
                start = self._line_start(text)
                block = self._block_kind(text, start)
                start = self._raw_forms(text, start, line)
            continues = self._scan(text, start, line, offset)
            if not continues and self.out and self.out[-1].kind not in (T.NEWLINE, T.BLOCK):
                self._emit(T.NEWLINE, "", line, len(text) + 1 + offset)
            logical_start = not continues
        last = self.lines[-1] if self.lines else ""
        self._emit(T.EOF, "", self.first_line + max(len(self.lines) - 1, 0), len(last) + 1)
        return self.out

    def _emit(self, kind: T, text: str, line: int, col: int, value: object = None) -> None:
        self.out.append(Token(kind, text, line, col, value))

    @staticmethod
    def _line_start(text: str) -> int:
        """Index of the first character after a leading line number and whitespace."""
        match = _LINE_NUMBER.match(text)
        start = match.end() if match else 0
        while start < len(text) and text[start].isspace():
            start += 1
        return start

    @staticmethod
    def _block_kind(text: str, start: int) -> str | None:
        for name, pattern in _BLOCK_START.items():
            if pattern.match(text, start):
                return name
        return None

    def _raw_forms(self, text: str, start: int, line: int) -> int:
        """Emit the keyword and RAW rest of free-text statements; return where to go on."""
        raw = _RAW_STATEMENT.match(text, start)
        if raw:
            for word in re.finditer(r"\w+", raw.group("head")):
                self._emit(T.WORD, word.group(), line, start + word.start() + 1)
            self._emit_raw(raw, line)
            return len(text)
        sql = _SQL.match(text, start)
        if sql:
            self._scan(text[: sql.end("head")], start, line, 0)
            select = sql.end("head")
            self._emit(T.WORD, text[select : select + 6], line, select + 1)
            self._emit_raw(sql, line)
            return len(text)
        talk = _TALK_TEXT.match(text, start)
        if talk and talk.group("rest")[:1] not in DOUBLE_QUOTES | SINGLE_QUOTES:
            self._emit(T.WORD, text[start : start + 4], line, start + 1)
            self._emit_raw(talk, line)
            return len(text)
        return start

    def _emit_raw(self, match: re.Match[str], line: int) -> None:
        rest = match.group("rest").rstrip()
        if rest:
            self._emit(T.RAW, rest, line, match.start("rest") + 1)

    # ---- one line -------------------------------------------------------------------------

    def _operand_before(self) -> bool:
        """Whether the previous token on this logical line ends an operand."""
        if not self.out or self.out[-1].kind in (T.NEWLINE, T.BLOCK):
            return False
        prev = self.out[-1]
        if prev.kind in (T.NUMBER, T.STRING):
            return True
        if prev.kind is T.WORD:
            return prev.upper not in self.keyword_words and prev.upper not in RESERVED
        return prev.is_op(")", "]", "}")

    def _statement_start(self) -> bool:
        return not self.out or self.out[-1].kind in (T.NEWLINE, T.BLOCK) or self.out[-1].is_op(":")

    def _scan(self, text: str, i: int, line: int, offset: int) -> bool:
        """Tokenize ``text[i:]``; True if the line ends with a continuation `` _``."""
        n = len(text)
        while i < n:
            ch = text[i]
            col = i + 1 + offset
            if ch.isspace():
                if text[i + 1 : i + 2] == "_" and _CONTINUATION.match(text, i):
                    return True
                i += 1
                continue
            if ch in SINGLE_QUOTES:
                if self._statement_start() or self._operand_before():
                    return False  # a comment
                try:
                    parts, end = _scan_single(text, i)
                except _LexError:
                    return False  # no closing quote: a comment after all
                self._emit(T.STRING, text[i:end], line, col, tuple(parts))
                i = end
                continue
            if ch in DOUBLE_QUOTES:
                try:
                    parts, end = _scan_template(text, i, line, offset)
                except _LexError as exc:
                    self._emit(T.BAD, text[i:], line, col, str(exc))
                    return False
                self._emit(T.STRING, text[i:end], line, col, tuple(parts))
                i = end
                continue
            word = _WORD.match(text, i)
            if word:
                if word.group().upper() == "REM" and self._statement_start():
                    return False
                self._emit(T.WORD, word.group(), line, col)
                i = word.end()
                continue
            number = _NUMBER.match(text, i)
            if number and not (ch == "." and self._operand_before()):
                self._emit(T.NUMBER, number.group(), line, col, float(number.group()))
                i = number.end()
                continue
            hexa = _HEX.match(text, i)
            if hexa and not self._operand_before():
                self._emit(T.NUMBER, hexa.group(), line, col, float(int(hexa.group(1), 16)))
                i = hexa.end()
                continue
            for op in _OPERATORS:
                if text.startswith(op, i):
                    self._emit(T.OP, op, line, col)
                    i += len(op)
                    break
            else:
                self._emit(T.BAD, ch, line, col, f"unexpected character {ch!r}")
                i += 1
        return False


class _LexError(Exception):
    """An unterminated string or interpolation (becomes a BAD token)."""


def _escape(text: str, i: int, parts: list[StringPart]) -> int:
    """Append the character of the escape at ``text[i]`` (after ``\\``); return the next index."""
    ch = text[i] if i < len(text) else "\\"
    if ch in _ESCAPES:
        _append(parts, _ESCAPES[ch])
        return i + 1
    if ch in "xu":
        for pattern in _UNICODE_ESCAPES:
            match = pattern.match(text, i)
            if match and int(match.group(1), 16) <= 0x10FFFF:
                _append(parts, chr(int(match.group(1), 16)))
                return match.end()
    _append(parts, ch)  # \" \' \\ \` \$ and unknown escapes stand for the character itself
    return i + 1


def _append(parts: list[StringPart], text: str) -> None:
    if parts and isinstance(parts[-1], str):
        parts[-1] += text
    else:
        parts.append(text)


def _scan_single(text: str, i: int) -> tuple[list[StringPart], int]:
    """A ``'…'`` string starting at ``text[i]``: its text and the index after it."""
    parts: list[StringPart] = [""]
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch in SINGLE_QUOTES:
            return parts, j + 1
        if ch == "\\":
            j = _escape(text, j + 1, parts)
            continue
        _append(parts, ch)
        j += 1
    raise _LexError("unterminated string")


#: How deeply strings may nest inside ``${}`` (the scanner recurses once per level).
MAX_STRING_NESTING = 16


def _scan_template(
    text: str, i: int, line: int, offset: int, depth: int = 0
) -> tuple[list[StringPart], int]:
    """A ``"…"`` string starting at ``text[i]``: text and interpolations, and the next index."""
    parts: list[StringPart] = [""]
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch in DOUBLE_QUOTES:
            return [p for p in parts if p != ""] or [""], j + 1
        if ch == "\\":
            j = _escape(text, j + 1, parts)
            continue
        if ch == "$" and text[j + 1 : j + 2] == "{":
            end = _scan_interpolation(text, j + 2, line, offset, depth)
            parts.append(Interp(text[j + 2 : end], line, j + 3 + offset))
            j = end + 1
            continue
        _append(parts, ch)
        j += 1
    raise _LexError("unterminated string: a string must close on the line it opens")


def _scan_interpolation(text: str, i: int, line: int, offset: int, depth: int = 0) -> int:
    """Index of the ``}`` closing the ``${`` whose expression starts at ``text[i]``."""
    if depth >= MAX_STRING_NESTING:
        raise _LexError(f"strings nested more than {MAX_STRING_NESTING} deep inside ${{}}")
    braces = 0
    j = i
    while j < len(text):
        ch = text[j]
        if ch in DOUBLE_QUOTES:
            _, j = _scan_template(text, j, line, offset, depth + 1)
            continue
        if ch in SINGLE_QUOTES:
            _, j = _scan_single(text, j)
            continue
        if ch == "{":
            braces += 1
        elif ch == "}":
            if braces == 0:
                return j
            braces -= 1
        j += 1
    raise _LexError("unterminated ${ in a string: expected '}'")


def tokenize(text: str) -> list[Token]:
    """Tokens of a whole source text."""
    return Lexer(text).tokens()


def split_interpolations(text: str, line: int, col: int) -> list[StringPart]:
    """Literal text with ``${expr}`` interpolations (a BEGIN TALK line): no escapes, no quotes.

    Raises ValueError (with the 1-based column of the ``${``) for an unterminated one.
    """
    parts: list[StringPart] = [""]
    j = 0
    while j < len(text):
        if text.startswith("${", j):
            try:
                end = _scan_interpolation(text, j + 2, line, col - 1)
            except _LexError as exc:
                raise ValueError(j + col, str(exc)) from None
            parts.append(Interp(text[j + 2 : end], line, j + 2 + col))
            j = end + 1
            continue
        _append(parts, text[j])
        j += 1
    return [p for p in parts if p != ""] or [""]
