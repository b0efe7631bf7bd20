"""The keyword registry: the typed Python functions a BASIC program calls as keywords.

Every keyword of the dialect (``TALK``, ``SEND MAIL``, ``FIND`` ...) is one entry, named by its
canonical text (upper case, single spaces) and called with positional arguments. The signature
comes from the function's type hints (or is given explicitly), so the checker can validate
arity and literal argument kinds at compile time, and the runtime can check the rest.

The first parameter of every keyword function is the :class:`Context` of the running dialog;
the others are the BASIC arguments. A parameter with a default is optional; ``X | None`` also
accepts ``null``; ``*args`` takes any number of trailing arguments (``SAVE file, a, b, c``).
An entry may also be *declared* without a function (its signature only): such a registry is
enough to check a program before the bot runtime supplies the implementations.
"""

from __future__ import annotations

import datetime
import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .values import Kind, kind_of

_NAME = re.compile(r"[A-Z][A-Z0-9_]*(?: [A-Z0-9_]+)*")


@runtime_checkable
class Context(Protocol):
    """What a keyword function gets from the dialog that calls it (terminal, test, debugger,
    the bot runtime each provide one)."""

    @property
    def dialog_id(self) -> str:
        """The id of the running dialog (the original's ``pid``)."""
        ...

    @property
    def globals(self) -> MutableMapping[str, Any]:
        """The dialog's global variables by lower-case name."""
        ...

    def output(self, text: str) -> None:
        """Show ``text`` to the user (what ``TALK`` ends in)."""
        ...

    async def input(self) -> str:
        """Wait for the user's next message (what ``HEAR`` ends in)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Pause the dialog (``WAIT``)."""
        ...


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One BASIC parameter of a keyword."""

    name: str
    kind: Kind
    optional: bool = False
    nullable: bool = False
    variadic: bool = False

    def accepts(self, kind: Kind) -> bool:
        """Whether an argument of ``kind`` may be passed to this parameter."""
        if kind is Kind.NULL:
            return self.nullable or self.kind is Kind.ANY
        return self.kind.accepts(kind)


@dataclass(frozen=True, slots=True)
class KeywordSpec:
    """A registry entry: ``fn`` is None for an entry declared by signature only."""

    name: str
    params: tuple[ParamSpec, ...]
    returns: Kind
    is_async: bool
    fn: Callable[..., Any] | None
    suspends: bool = False

    @property
    def min_args(self) -> int:
        """How many arguments a call must pass at least."""
        return sum(1 for p in self.params if not p.optional and not p.variadic)

    @property
    def max_args(self) -> int | None:
        """How many arguments a call may pass at most (None: any number)."""
        if self.params and self.params[-1].variadic:
            return None
        return len(self.params)

    def param_for(self, position: int) -> ParamSpec | None:
        """The parameter receiving the argument at ``position`` (None: too many arguments)."""
        if position < len(self.params):
            return self.params[position]
        if self.params and self.params[-1].variadic:
            return self.params[-1]
        return None

    def arity_text(self) -> str:
        """The accepted argument count in words, for messages."""
        low, high = self.min_args, self.max_args
        if high is None:
            return f"at least {low} argument{'s' * (low != 1)}"
        if low == high:
            return f"{low} argument{'s' * (low != 1)}"
        return f"{low} to {high} arguments"

    def argument_error(self, args: Sequence[object]) -> str | None:
        """Why these run-time values cannot be passed (None if they can)."""
        count = len(args)
        if count < self.min_args or (self.max_args is not None and count > self.max_args):
            return f"{self.name} takes {self.arity_text()}, got {count}"
        for position, value in enumerate(args):
            param = self.param_for(position)
            assert param is not None  # the arity check above bounds position
            try:
                kind = kind_of(value)
            except TypeError as exc:
                return f"{self.name}: argument {param.name!r}: {exc}"
            if not param.accepts(kind):
                return (
                    f"{self.name}: argument {param.name!r} must be a {param.kind.value}, "
                    f"got a {kind.value}"
                )
        return None


def canonical_name(text: str) -> str:
    """The registry name of a keyword: upper case, words separated by single spaces."""
    name = " ".join(text.upper().split())
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad keyword name {text!r}: use letters, digits, _ and spaces")
    return name


_SIMPLE: dict[object, Kind] = {
    bool: Kind.BOOLEAN,
    int: Kind.NUMBER,
    float: Kind.NUMBER,
    str: Kind.STRING,
    datetime.datetime: Kind.DATE,
    datetime.date: Kind.DATE,
    list: Kind.LIST,
    tuple: Kind.LIST,
    dict: Kind.MAP,
    Any: Kind.ANY,
    object: Kind.ANY,
    type(None): Kind.NULL,
    None: Kind.NULL,
}


def kind_of_annotation(annotation: object) -> tuple[Kind, bool]:
    """The kind an annotation stands for and whether it admits ``None``.

    Raises TypeError for an annotation that names no BASIC value.
    """
    if annotation in _SIMPLE:
        kind = _SIMPLE[annotation]
        return kind, kind is Kind.NULL
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        kinds = {kind_of_annotation(a)[0] for a in members}
        nullable = len(members) < len(typing.get_args(annotation))
        return (kinds.pop() if len(kinds) == 1 else Kind.ANY), nullable
    if origin in (list, tuple, Sequence):
        return Kind.LIST, False
    if origin in (dict, Mapping):
        return Kind.MAP, False
    raise TypeError(f"{annotation!r} is not a BASIC value type")


def signature_of(name: str, fn: Callable[..., Any], *, suspends: bool = False) -> KeywordSpec:
    """Build the spec of a keyword function from its signature and type hints."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception as exc:  # NameError for an unresolvable forward reference, among others
        raise TypeError(f"keyword {name}: cannot resolve the type hints: {exc}") from exc
    parameters = list(inspect.signature(fn).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"keyword {name}: the first parameter must be the Context")
    params: list[ParamSpec] = []
    for p in parameters[1:]:
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(
                f"keyword {name}: parameter {p.name!r} must be positional "
                "(BASIC passes arguments by position)"
            )
        try:
            kind, nullable = kind_of_annotation(hints.get(p.name, Any))
        except TypeError as exc:
            raise TypeError(f"keyword {name}: parameter {p.name!r}: {exc}") from None
        params.append(
            ParamSpec(
                name=p.name,
                kind=kind,
                optional=p.default is not inspect.Parameter.empty,
                nullable=nullable,
                variadic=p.kind is inspect.Parameter.VAR_POSITIONAL,
            )
        )
    try:
        returns, _ = kind_of_annotation(hints.get("return", Any))
    except TypeError as exc:
        raise TypeError(f"keyword {name}: return type: {exc}") from None
    return KeywordSpec(
        name=name,
        params=tuple(params),
        returns=returns,
        is_async=inspect.iscoroutinefunction(fn),
        fn=fn,
        suspends=suspends,
    )


def _check_params(name: str, params: Sequence[ParamSpec]) -> None:
    """Optional parameters follow required ones; only the last one may be variadic."""
    seen_optional = False
    for position, p in enumerate(params):
        if p.variadic and position != len(params) - 1:
            raise TypeError(f"keyword {name}: only the last parameter may be variadic")
        if p.optional or p.variadic:
            seen_optional = True
        elif seen_optional:
            raise TypeError(
                f"keyword {name}: required parameter {p.name!r} follows an optional one"
            )


@dataclass
class Registry:
    """Keyword entries by canonical name; ``index_of`` is stable (insertion order) and is the
    keyword id the generated code uses."""

    _specs: dict[str, KeywordSpec] = field(default_factory=dict)

    def keyword(
        self, name: str, *, suspends: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator registering a keyword function under ``name``; the function is returned
        unchanged. ``suspends`` marks keywords that wait for the user (``HEAR``)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name, fn, suspends=suspends)
            return fn

        return register

    def add(self, name: str, fn: Callable[..., Any], *, suspends: bool = False) -> KeywordSpec:
        """Register ``fn`` under ``name``, its signature taken from its type hints."""
        spec = signature_of(canonical_name(name), fn, suspends=suspends)
        return self._put(spec)

    def declare(
        self,
        name: str,
        params: Sequence[ParamSpec],
        returns: Kind = Kind.ANY,
        *,
        suspends: bool = False,
        is_async: bool = True,
        fn: Callable[..., Any] | None = None,
    ) -> KeywordSpec:
        """Register an explicit signature, with or without an implementation."""
        spec = KeywordSpec(
            name=canonical_name(name),
            params=tuple(params),
            returns=returns,
            is_async=is_async,
            fn=fn,
            suspends=suspends,
        )
        return self._put(spec)

    def _put(self, spec: KeywordSpec) -> KeywordSpec:
        if spec.name in self._specs:
            raise ValueError(f"keyword {spec.name} is already registered")
        _check_params(spec.name, spec.params)
        self._specs[spec.name] = spec
        return spec

    def get(self, name: str) -> KeywordSpec:
        """The entry for ``name`` (any case/spacing); KeyError naming it if absent."""
        key = " ".join(name.upper().split())
        try:
            return self._specs[key]
        except KeyError:
            raise KeyError(f"no keyword {key} in the registry") from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and " ".join(name.upper().split()) in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    def __iter__(self) -> Iterator[KeywordSpec]:
        return iter(self._specs.values())

    def names(self) -> list[str]:
        """Every registered name, in index order."""
        return list(self._specs)

    def index_of(self, name: str) -> int:
        """The stable numeric id of ``name`` (its registration order)."""
        key = self.get(name).name
        return list(self._specs).index(key)

    def merged(self, other: Registry) -> Registry:
        """A new registry with this one's entries, then ``other``'s; where both have a name,
        ``other``'s entry wins but keeps this one's index (implementations over declared
        signatures)."""
        result = Registry()
        result._specs = dict(self._specs)
        result._specs.update(other._specs)
        return result
