"""The notation of keyword forms: how one surface syntax maps to one registry call.

A form is written as a pattern, e.g. ``"SEND FILE TO {mobile}, {file} [, {caption}]"``:

* upper-case words are fixed words (matched case-insensitively, whole words); the words
  before the first other element are the form's *key words*, which select it;
* ``,`` ``#`` ``=`` are fixed punctuation (``,`` also matches ``;``, which PRINT and INPUT
  allowed as a separator);
* ``[ … ]`` is optional;
* ``{name}`` is an expression;
* ``{name*}`` is one or more expressions separated by ``,``;
* ``{>name}`` is a variable, member or element that receives the result (``HEAR x``);
* ``{name:word}`` / ``{name:lword}`` is a bare word taken as text (``SET OUTPUT ARRAY``;
  ``lword`` lower-cases it, as the original did for ``SET THEME dark``); anything else there
  is parsed as an expression;
* ``{name:raw}`` is the free text the lexer kept (the SQL of ``SELECT``);
* ``{name:text}`` is ``TALK`` text: an expression, or — if the rest of the line is not one —
  literal text with ``${}`` interpolation, as the original auto-quoted it;
* ``{name:handle}`` is a file number or session name after ``#`` (``#1``, ``#web``);
* ``{name:sheet}`` is a spreadsheet name (``products.xlsx``, bare or quoted);
* ``{name:A|B}`` is one of the fixed words, captured as text.

``args`` says how the captures become the registry call's positional arguments: a slot name
(a ``{name*}`` list is spread), ``[name]`` (that list as one list literal) or ``'text'`` (a
string constant). Without ``args`` the slots are passed in order. A missing
optional capture is ``null``; trailing ones are left out so the keyword's defaults apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PATTERN_TOKEN = re.compile(r"\{[^}]*\}|\[|\]|[A-Z]+|[,#=]|\S")
SLOT_KINDS = frozenset(
    {"expr", "list", "target", "word", "lword", "raw", "text", "handle", "sheet"}
)


@dataclass(frozen=True, slots=True)
class Word:
    """A fixed word."""

    text: str


@dataclass(frozen=True, slots=True)
class Punct:
    """Fixed punctuation."""

    text: str


@dataclass(frozen=True, slots=True)
class Slot:
    """A captured part: ``kind`` is one of :data:`SLOT_KINDS` or ``"choice"``."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Optional:
    """An optional group."""

    elements: tuple[Element, ...]


Element = Word | Punct | Slot | Optional


def compile_pattern(pattern: str) -> tuple[Element, ...]:
    """The elements of a pattern; ValueError for a malformed one."""
    stack: list[list[Element]] = [[]]
    for token in _PATTERN_TOKEN.findall(pattern):
        if token == "[":
            stack.append([])
        elif token == "]":
            if len(stack) == 1:
                raise ValueError(f"unbalanced ] in {pattern!r}")
            group = stack.pop()
            stack[-1].append(Optional(tuple(group)))
        elif token.startswith("{"):
            stack[-1].append(_slot(token[1:-1], pattern))
        elif token.isalpha():
            stack[-1].append(Word(token))
        elif token in ",#=":
            stack[-1].append(Punct(token))
        else:
            raise ValueError(f"bad token {token!r} in {pattern!r}")
    if len(stack) != 1:
        raise ValueError(f"unbalanced [ in {pattern!r}")
    return tuple(stack[0])


def _slot(spec: str, pattern: str) -> Slot:
    if spec.startswith(">"):
        return Slot(spec[1:], "target")
    if spec.endswith("*"):
        return Slot(spec[:-1], "list")
    name, _, kind = spec.partition(":")
    if not kind:
        return Slot(name, "expr")
    if "|" in kind or kind.isupper():
        return Slot(name, "choice", tuple(kind.split("|")))
    if kind not in SLOT_KINDS:
        raise ValueError(f"unknown slot kind {kind!r} in {pattern!r}")
    return Slot(name, kind)


def slots(elements: tuple[Element, ...]) -> list[Slot]:
    """Every slot of a pattern, in order (optional ones included)."""
    found: list[Slot] = []
    for element in elements:
        if isinstance(element, Slot):
            found.append(element)
        elif isinstance(element, Optional):
            found.extend(slots(element.elements))
    return found


def render(elements: tuple[Element, ...]) -> str:
    """The pattern as a usage line for error messages: ``SEND MAIL to, subject, body``."""
    out: list[str] = []
    for element in elements:
        if isinstance(element, Word):
            out.append(element.text)
        elif isinstance(element, Punct):
            if element.text == "," and out:
                out[-1] += element.text
            else:
                out.append(element.text)
        elif isinstance(element, Slot):
            text = "|".join(element.choices) if element.kind == "choice" else element.name
            text += ", …" if element.kind == "list" else ""
            if out and out[-1] == "#":
                out[-1] += text
            else:
                out.append(text)
        else:
            out.append("[" + render(element.elements) + "]")
    return " ".join(out).replace("[, ", "[,").replace("[,", "[, ")


@dataclass(frozen=True)
class Form:
    """One surface form of a keyword and the registry call it makes.

    ``target`` names a variable the form assigns without saying so (``GET STOCK FOR`` sets
    ``stock``); ``build`` names a special builder for forms whose meaning is more than a call
    (``INPUT`` is a TALK and a HEAR); ``anywhere`` marks argument-less phrases usable inside any
    expression (``CONTINUATION TOKEN``); ``example`` is a line using it (docs and tests).
    """

    pattern: str
    keyword: str
    example: str
    args: tuple[str, ...] | None = None
    target: str | None = None
    build: str | None = None
    anywhere: bool = False
    elements: tuple[Element, ...] = field(init=False)
    words: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        elements = compile_pattern(self.pattern)
        key: list[str] = []
        for element in elements:
            if not isinstance(element, Word):
                break
            key.append(element.text)
        object.__setattr__(self, "elements", elements)
        object.__setattr__(self, "words", tuple(key))
        names = {s.name for s in slots(elements)}
        for arg in self.args or ():
            name = arg.strip("[]")
            if not (arg.startswith("'") or name in names):
                raise ValueError(f"{self.pattern!r}: argument {arg!r} names no slot")

    @property
    def has_target(self) -> bool:
        """Whether the form names its own result variable (``HEAR x``), so it cannot be used
        as ``x = FORM``."""
        return any(s.kind == "target" for s in slots(self.elements))

    @property
    def usage(self) -> str:
        """The form as a usage line."""
        return render(self.elements)
