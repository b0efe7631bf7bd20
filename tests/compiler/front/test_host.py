"""Value kinds, the keyword registry and diagnostics rendering."""

from __future__ import annotations

import datetime
from collections.abc import MutableMapping
from typing import Any

import pytest

from gb.compiler.diagnostics import CompileError, Diagnostic, source_line, split_lines
from gb.compiler.host import Context, Kind, ParamSpec, Registry, canonical_name, kind_of
from gb.compiler.host.registry import KeywordSpec, kind_of_annotation, signature_of


def test_kind_of_values() -> None:
    assert [kind_of(v) for v in (None, True, 1, 2.5, "s", datetime.date(2024, 1, 2))] == [
        Kind.NULL, Kind.BOOLEAN, Kind.NUMBER, Kind.NUMBER, Kind.STRING, Kind.DATE,
    ]  # fmt: skip
    assert kind_of(datetime.datetime(2024, 1, 2, 3)) is Kind.DATE
    assert kind_of([1]) is Kind.LIST and kind_of((1,)) is Kind.LIST and kind_of({}) is Kind.MAP
    with pytest.raises(TypeError, match="a set is not a BASIC value"):
        kind_of({1})


def test_kind_accepts() -> None:
    assert Kind.ANY.accepts(Kind.STRING) and Kind.STRING.accepts(Kind.ANY)
    assert Kind.STRING.accepts(Kind.STRING) and not Kind.STRING.accepts(Kind.NUMBER)


def test_annotations() -> None:
    cases: list[tuple[object, tuple[Kind, bool]]] = [
        (int, (Kind.NUMBER, False)),
        (float, (Kind.NUMBER, False)),
        (bool, (Kind.BOOLEAN, False)),
        (str, (Kind.STRING, False)),
        (datetime.date, (Kind.DATE, False)),
        (list[int], (Kind.LIST, False)),
        (tuple, (Kind.LIST, False)),
        (dict[str, int], (Kind.MAP, False)),
        (Any, (Kind.ANY, False)),
        (object, (Kind.ANY, False)),
        (None, (Kind.NULL, True)),
        (str | None, (Kind.STRING, True)),
        (int | float, (Kind.NUMBER, False)),
        (int | str | None, (Kind.ANY, True)),
        (MutableMapping[str, int], None),  # type: ignore[list-item]
    ]
    for annotation, expected in cases:
        if expected is None:
            with pytest.raises(TypeError, match="is not a BASIC value type"):
                kind_of_annotation(annotation)
        else:
            assert kind_of_annotation(annotation) == expected, annotation


def test_registry_from_type_hints() -> None:
    reg = Registry()

    @reg.keyword("send  mail")
    async def send_mail(ctx: Context, to: str, subject: str, body: str = "") -> None: ...

    @reg.keyword("HEAR", suspends=True)
    async def hear(ctx: Context, kind: str = "text", options: list[Any] | None = None) -> Any: ...

    @reg.keyword("save")
    def save(ctx, file, *values: Any) -> dict[str, Any]:  # type: ignore[no-untyped-def]
        return {}

    assert reg.names() == ["SEND MAIL", "HEAR", "SAVE"]
    assert "send mail" in reg and "Send   Mail" in reg and "nope" not in reg and 3 not in reg
    assert len(reg) == 3 and [s.name for s in reg] == reg.names()
    spec = reg.get("send mail")
    assert spec == KeywordSpec(
        "SEND MAIL",
        (
            ParamSpec("to", Kind.STRING),
            ParamSpec("subject", Kind.STRING),
            ParamSpec("body", Kind.STRING, optional=True),
        ),
        Kind.NULL,
        True,
        send_mail,
    )
    assert (spec.min_args, spec.max_args, spec.arity_text()) == (2, 3, "2 to 3 arguments")
    hear_spec = reg.get("HEAR")
    assert hear_spec.suspends and hear_spec.params[1] == ParamSpec(
        "options", Kind.LIST, optional=True, nullable=True
    )
    save_spec = reg.get("SAVE")
    assert not save_spec.is_async and save_spec.returns is Kind.MAP
    assert save_spec.params == (
        ParamSpec("file", Kind.ANY),
        ParamSpec("values", Kind.ANY, variadic=True),
    )
    assert (save_spec.min_args, save_spec.max_args) == (1, None)
    assert save_spec.arity_text() == "at least 1 argument"
    assert save_spec.param_for(5) == save_spec.params[1]
    assert spec.param_for(3) is None
    assert reg.index_of("hear") == 1
    with pytest.raises(KeyError, match="no keyword NOPE in the registry"):
        reg.get("nope")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("hear", hear)


def test_arity_texts() -> None:
    def one(ctx: Context, a: str) -> None: ...

    def none(ctx: Context) -> None: ...

    assert signature_of("X", one).arity_text() == "1 argument"
    assert signature_of("X", none).arity_text() == "0 arguments"


def test_run_time_argument_checks() -> None:
    def fn(ctx: Context, n: float, s: str | None, *rest: bool) -> None: ...

    spec = signature_of("K", fn)
    assert spec.argument_error([1, None, True, False]) is None
    assert spec.argument_error([1]) == "K takes at least 2 arguments, got 1"
    assert spec.argument_error(["x", None]) == "K: argument 'n' must be a number, got a string"
    assert spec.argument_error([1, 2]) == "K: argument 's' must be a string, got a number"
    assert spec.argument_error([1, "s", {1}]) == "K: argument 'rest': a set is not a BASIC value"

    def fixed(ctx: Context, a: Any) -> None: ...

    fixed_spec = signature_of("F", fixed)
    assert fixed_spec.argument_error([None]) is None
    assert fixed_spec.argument_error([1, 2]) == "F takes 1 argument, got 2"


def test_bad_keyword_functions() -> None:
    def kw_only(ctx: Context, *, a: str) -> None: ...

    def kwargs(ctx: Context, **a: str) -> None: ...

    def bad_type(ctx: Context, a: set[int]) -> None: ...

    def bad_return(ctx: Context) -> set[int]: ...  # type: ignore[empty-body]

    def unresolved(ctx: Context, a: Missing) -> None: ...  # type: ignore[name-defined]  # noqa: F821

    for fn, message in [
        (lambda: None, "the first parameter must be the Context"),
        (kw_only, "parameter 'a' must be positional"),
        (kwargs, "parameter 'a' must be positional"),
        (bad_type, "parameter 'a': set\\[int\\] is not a BASIC value type"),
        (bad_return, "return type: set\\[int\\] is not a BASIC value type"),
        (unresolved, "cannot resolve the type hints"),
    ]:
        with pytest.raises(TypeError, match=message):
            signature_of("X", fn)


def test_declared_signatures_and_validation() -> None:
    reg = Registry()
    spec = reg.declare("X", [ParamSpec("a", Kind.NUMBER)], Kind.STRING)
    assert spec.fn is None and spec.is_async and spec.returns is Kind.STRING
    with pytest.raises(TypeError, match="only the last parameter may be variadic"):
        reg.declare("Y", [ParamSpec("a", Kind.ANY, variadic=True), ParamSpec("b", Kind.ANY)])
    with pytest.raises(TypeError, match="required parameter 'b' follows an optional one"):
        reg.declare("Z", [ParamSpec("a", Kind.ANY, optional=True), ParamSpec("b", Kind.ANY)])
    for bad in ("", "1ABC", "A-B"):
        with pytest.raises(ValueError, match="bad keyword name"):
            canonical_name(bad)
    assert canonical_name(" get  config ") == "GET CONFIG"


def test_param_accepts() -> None:
    assert ParamSpec("a", Kind.STRING, nullable=True).accepts(Kind.NULL)
    assert not ParamSpec("a", Kind.STRING).accepts(Kind.NULL)
    assert ParamSpec("a", Kind.ANY).accepts(Kind.NULL)
    assert ParamSpec("a", Kind.STRING).accepts(Kind.ANY)


def test_merged_keeps_indexes_and_prefers_the_other() -> None:
    base = Registry()
    base.declare("A", [])
    base.declare("B", [])

    other = Registry()

    def impl(ctx: Context) -> str:
        return "b"

    other.add("B", impl)
    other.declare("C", [])
    merged = base.merged(other)
    assert merged.names() == ["A", "B", "C"]
    assert merged.get("B").fn is impl and merged.index_of("C") == 2
    assert base.get("B").fn is None


def test_context_protocol() -> None:
    class Terminal:
        dialog_id = "d1"

        def __init__(self) -> None:
            self.globals: MutableMapping[str, Any] = {}

        def output(self, text: str) -> None: ...

        async def input(self) -> str:
            return ""

        async def sleep(self, seconds: float) -> None: ...

    assert isinstance(Terminal(), Context)
    assert not isinstance(object(), Context)


def test_diagnostic_rendering() -> None:
    d = Diagnostic(
        "a.bas", 3, 12, "expected THEN after the IF condition", "THEN", '\tIF x > 3 TALK "big"'
    )
    assert str(d) == (
        "a.bas:3:12: error: expected THEN after the IF condition\n"
        '    \tIF x > 3 TALK "big"\n'
        "    \t          ^"
    )
    assert str(Diagnostic("a.bas", 9, 1, "oops", None, "   ")) == "a.bas:9:1: error: oops"
    warning = Diagnostic("a.bas", 1, 1, "hm", None, "x", severity="warning")
    assert str(warning).startswith("a.bas:1:1: warning: hm")


def test_compile_error() -> None:
    one = Diagnostic("a.bas", 1, 1, "first", None, "x")
    two = Diagnostic("a.bas", 2, 3, "second", None, "yyy")
    assert str(CompileError([one])) == str(one)
    both = CompileError(iter([one, two]))
    assert both.diagnostics == [one, two] and both.args == ("first",)
    assert str(both) == f"{one}\n{two}\n2 errors"
    with pytest.raises(ValueError, match="at least one diagnostic"):
        CompileError([])


def test_source_lines() -> None:
    assert split_lines("a\r\nb\rc\n") == ["a", "b\rc", ""]
    assert source_line("a\nb", 2) == "b"
    assert source_line("a\nb", 3) == "" and source_line("a", 0) == ""
