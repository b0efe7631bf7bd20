"""The checker: keyword names, arity and literal kinds; calls; loops and definitions."""

from __future__ import annotations

from typing import Any

from gb.compiler.check import check, literal_kind
from gb.compiler.host import Context, Kind, ParamSpec, Registry
from gb.compiler.keywords import standard_registry
from gb.compiler.syntax import ast, parse

BUILTINS = {"LEN": (1, 1), "mid": (2, 3), "NOW": (0, 0)}
STANDARD = standard_registry()


def problems(text: str, registry: Registry = STANDARD, **kw: object) -> list[str]:
    program = parse(text, "t.bas", **kw)  # type: ignore[arg-type]
    return [f"{d.line}:{d.col}: {d.message}" for d in check(program, registry, builtins=BUILTINS)]


def test_a_correct_program_has_no_problems() -> None:
    src = """
FUNCTION twice(x)
  RETURN x * 2
END FUNCTION
SUB greet(name)
  TALK "Hi " + name
  EXIT SUB
END SUB
HEAR n AS NUMBER
greet "Ana"
CALL greet(LEN("x"))
FOR i = 1 TO twice(n)
  IF i > 3 THEN EXIT FOR
NEXT
DO WHILE TRUE
  EXIT DO
LOOP
SELECT CASE n
  CASE 1
    WAIT 1
  CASE ELSE
    x = MID("abc", 1)
END SELECT
"""
    assert problems(src) == []


def test_keyword_names_arity_and_kinds() -> None:
    reg = Registry()

    @reg.keyword("TALK")
    async def talk(ctx: Context, text: str) -> None: ...

    @reg.keyword("WAIT")
    async def wait(ctx: Context, seconds: float) -> None: ...

    @reg.keyword("APPEND")
    async def append(ctx: Context, n: float, note: str | None = None) -> list[Any]: ...

    @reg.keyword("SET OUTPUT")
    async def set_output(ctx: Context, a: str, b: str) -> None: ...

    assert problems(
        'TALK "a"\nTALK 1\nTALK "a" & 1\nWAIT "5"\nx = APPEND 1, NULL\nWAIT TRUE\n'
        'x = APPEND (-1), 2\nWAIT NOT x\nWAIT [1]\nWAIT {a: 1}\nWAIT 1 = 2\nWAIT -"a"\n'
        "x = APPEND 1, 2, 3\nSET OUTPUT ARRAY\nSEND MAIL a, b, c\nTALK x\nTALK NULL",
        reg,
    ) == [
        "2:6: TALK: text must be a string, not a number",
        "4:6: WAIT: seconds must be a number, not a string",
        "6:6: WAIT: seconds must be a number, not a boolean",
        "7:18: APPEND: note must be a string, not a number",
        "8:6: WAIT: seconds must be a number, not a boolean",
        "9:6: WAIT: seconds must be a number, not a list",
        "10:6: WAIT: seconds must be a number, not a map",
        "11:6: WAIT: seconds must be a number, not a boolean",
        "13:5: APPEND takes 1 to 2 arguments, got 3",
        "14:1: SET OUTPUT takes 2 arguments, got 1",
        "15:1: keyword SEND MAIL is not available (not in the registry)",
        "17:6: TALK: text must be a string, not a null",
    ]


def test_keywords_inside_expressions_and_blocks() -> None:
    assert problems(
        "IF CONTINUATION TOKEN THEN\n  x = 1\nEND IF\nFUNCTION f()\n  FIND\nEND FUNCTION\n"
        'SELECT CASE ACTIVE TASKS\n  CASE LEN(1, 2)\n    WAIT "x"\nEND SELECT'
    ) == [
        "5:3: FIND takes at least 1 argument, got 0",
        "8:8: LEN takes 1 argument, got 2",
        "9:10: WAIT: seconds must be a number, not a string",
    ]


def test_calls() -> None:
    src = """
FUNCTION f(a, b)
END FUNCTION
SUB s(a)
END SUB
x = f(1)
y = s(1)
s 1, 2
x = g(1)
h
x = mid("a")
x = now(1)
x = LEN(f(1, 2))
"""
    assert problems(src) == [
        "6:5: FUNCTION F takes 2 arguments, got 1",
        "7:5: SUB S gives no value; use a FUNCTION",
        "8:1: SUB S takes 1 argument, got 2",
        "9:5: unknown function G: not a keyword, a FUNCTION/SUB of this program or a built-in "
        "function",
        "10:1: unknown statement, SUB H: not a keyword, a FUNCTION/SUB of this program or a "
        "built-in function",
        "11:5: MID takes 2 to 3 arguments, got 1",
        "12:5: NOW takes 0 arguments, got 1",
    ]


def test_definitions() -> None:
    src = """
FUNCTION f(a, a)
END FUNCTION
SUB f()
END SUB
FUNCTION len(x)
END FUNCTION
SUB s()
  RETURN 1
END SUB
FUNCTION g()
  RETURN 1
END FUNCTION
"""
    assert problems(src) == [
        "2:1: parameter a appears twice in F",
        "4:1: SUB F is already defined at line 2",
        "6:1: FUNCTION LEN has the name of a built-in function",
        "9:3: SUB S cannot return a value",
    ]


def test_exits() -> None:
    src = """
EXIT FOR
EXIT DO
EXIT FUNCTION
EXIT SUB
FOR i = 1 TO 2
  DO
    EXIT FOR
  LOOP
NEXT
FOR EACH x IN y
  EXIT FOR
NEXT
FUNCTION f()
  EXIT SUB
  EXIT FUNCTION
  FOR i = 1 TO 2
  NEXT
  EXIT FOR
END FUNCTION
SUB s()
  EXIT FUNCTION
END SUB
EXIT
"""
    assert problems(src) == [
        "2:1: EXIT FOR outside a FOR loop",
        "3:1: EXIT DO outside a DO loop",
        "4:1: EXIT FUNCTION outside a FUNCTION",
        "5:1: EXIT SUB outside a SUB",
        "15:3: EXIT SUB outside a SUB",
        "19:3: EXIT FOR outside a FOR loop",
        "22:3: EXIT FUNCTION outside a FUNCTION",
    ]


def test_metadata_duplicates() -> None:
    assert problems("PARAM a\nPARAM A AS number\nTABLE T\nEND TABLE\nTABLE t\nEND TABLE") == [
        "2:1: PARAM A is declared twice",
        "5:1: TABLE t is declared twice",
    ]


def test_diagnostics_name_included_files() -> None:
    files = {"lib.bas": 'x = 1\nWAIT "soon"'}
    program = parse("INCLUDE lib.bas", "main.bas", include_loader=files.__getitem__)
    (d,) = check(program, STANDARD, builtins=BUILTINS)
    assert (d.file, d.line, d.col, d.source_line) == ("lib.bas", 2, 6, 'WAIT "soon"')


def test_default_builtins_come_from_the_code_generator() -> None:
    program = parse("x = LEN(1, 2, 3)", "t.bas")
    (d,) = check(program, STANDARD)
    assert d.message.startswith("LEN takes 1 argument")


def test_literal_kinds() -> None:
    pos = ast.Pos(1, 1)
    n = ast.Number(pos, 1)
    assert literal_kind(ast.Binary(pos, "&", n, n)) is Kind.STRING
    assert literal_kind(ast.Binary(pos, "+", n, n)) is Kind.ANY
    assert literal_kind(ast.Unary(pos, "-", ast.Name(pos, "x"))) is Kind.ANY
    assert literal_kind(ast.Unary(pos, "+", n)) is Kind.NUMBER


def test_declared_registry_params() -> None:
    reg = Registry()
    reg.declare("TALK", [ParamSpec("text", Kind.ANY)])
    assert problems("TALK 1\nTALK NULL", reg) == []
