"""Fuzzing the front end: whatever the text, lexing never fails and parsing and checking fail
only with CompileError — never another exception."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gb.compiler.check import check
from gb.compiler.diagnostics import CompileError
from gb.compiler.keywords import FORMS, standard_registry
from gb.compiler.syntax import parse
from gb.compiler.syntax.lexer import tokenize
from gb.compiler.syntax.tokens import T
from tests.compiler.front.render import expr

REGISTRY = standard_registry()
BUILTINS = {"LEN": (1, 1), "MID": (2, 3)}
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CORPUS = [
    'TALK "Hello, what is your name?"\nHEAR name\nTALK "Hi, ${name}."',
    "FOR i = 1 TO 10 STEP 2\n  s = s + i * 2 ^ 3\nNEXT i\nTALK s",
    'IF a > 1 AND NOT b THEN\n  x = "big"\nELSE IF a < 0 THEN\n  x = "neg"\nELSE\n  x = 0\nEND IF',
    "SELECT CASE n\n  CASE 1, 2\n    WAIT 1\n  CASE 3 TO 5\n  CASE IS > 9\n  CASE ELSE\nEND SELECT",
    "FUNCTION f(a, b)\n  RETURN a + b\nEND FUNCTION\nCALL f(1, 2)\nx = f(3, 4)",
    'DO WHILE i < 3\n  i = i + 1\nLOOP\nWHILE x\n  x = x - 1\nWEND\nrows = FIND "a.xlsx", "id=1"',
    "BEGIN TALK\n  Hello ${name}\nEND TALK\nTABLE T ON db\n  Id number key\nEND TABLE",
    'PARAM q AS string LIKE "x" DESCRIPTION "y"\nDESCRIPTION test\nSET SCHEDULE "0 9 * * *"',
    'list = NEW ARRAY\nlist(0) = [1, {a: "b"}]\nm = NEW OBJECT\nm.k = list[0] & "x" _\n  & "y"',
    'x = FIND "t", "id=1" OR TALK "none"\nr = SELECT a FROM x WHERE b > 1\nSAVE "t", a, r.b',
    'OPEN "f.txt" FOR OUTPUT AS #1\nPRINT #1, a; b\nHEAR c AS "Yes", "No"\nx = rows AS PDF',
    *(form.example for form in FORMS),
]

ALPHABET = st.sampled_from(
    [
        *"abcxyzIFTHENLSOR0123456789 \t\n\r:=<>+-*/\\^&()[]{},.;#!%'\"$_?@`\u201c\u2019",
        "IF ", "THEN", "END IF", "FOR ", "NEXT", "TALK ", "HEAR ", " AS ", "${", "}", " _\n",
        "SELECT CASE ", "CASE ", "BEGIN TALK\n", "END TALK", "TABLE T\n", "FUNCTION f(",
        "REM ", "ELSE", "DO", "LOOP", "WHILE ", "EXIT ", "NEW OBJECT", "SET ", "GET ",
    ]
)  # fmt: skip


def compile_front(text: str) -> None:
    try:
        program = parse(text, "fuzz.bas")
    except CompileError as exc:
        assert exc.diagnostics and str(exc)
        for d in exc.diagnostics:
            assert d.line >= 1 and d.col >= 1 and d.file == "fuzz.bas"
        return
    for d in check(program, REGISTRY, builtins=BUILTINS):
        assert d.line >= 1 and str(d)


@FAST
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    toks = tokenize(text)
    assert toks[-1].kind is T.EOF
    compile_front(text)


@FAST
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_basic_like_text(text: str) -> None:
    tokenize(text)
    compile_front(text)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if action == "delete":
            end = draw(st.integers(at, min(len(text), at + 8)))
            text = text[:at] + text[end:]
        elif action == "insert":
            text = text[:at] + draw(ALPHABET) + text[at:]
        elif action == "duplicate":
            text = text[:at] + text[at : at + 12] + text[at:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


@FAST
@given(mutated())
def test_mutated_programs(text: str) -> None:
    compile_front(text)


def test_the_corpus_is_valid() -> None:
    for text in CORPUS:
        parse(text, "corpus.bas")


# ---- generated expressions parse back to the tree they were written from -------------------

NAMES = st.sampled_from(["a", "b", "total", "row", "x1", "name$"])
LEAVES = st.one_of(
    NAMES.map(lambda n: (n, n)),
    st.integers(0, 999).map(lambda n: (str(n), str(n))),
    st.sampled_from(["hi", "a b", ""]).map(lambda s: (f'"{s}"', f'"{s}"')),
    st.sampled_from([("TRUE", "true"), ("NULL", "null")]),
)
BINARY = [("+", "+"), ("-", "-"), ("*", "*"), ("/", "/"), ("\\", "\\"), ("MOD", "mod"),
          ("^", "^"), ("&", "&"), ("=", "="), ("<>", "<>"), ("<", "<"), (">=", ">="),
          ("AND", "and"), ("OR", "or")]  # fmt: skip


def _tree(children: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    binary = st.tuples(children, st.sampled_from(BINARY), children).map(
        lambda t: (f"({t[0][0]} {t[1][0]} {t[2][0]})", f"({t[0][1]} {t[1][1]} {t[2][1]})")
    )
    unary = children.map(lambda c: (f"(-{c[0]})", f"(- {c[1]})"))
    negation = children.map(lambda c: (f"(NOT {c[0]})", f"(not {c[1]})"))
    member = st.tuples(children, NAMES).map(lambda t: (f"({t[0][0]}).{t[1]}", f"{t[0][1]}.{t[1]}"))
    index = st.tuples(children, children).map(
        lambda t: (f"({t[0][0]})[{t[1][0]}]", f"{t[0][1]}[{t[1][1]}]")
    )
    items = st.lists(children, max_size=3).map(
        lambda cs: (
            "[" + ", ".join(c[0] for c in cs) + "]",
            "[" + ", ".join(c[1] for c in cs) + "]",
        )
    )
    return st.one_of(binary, unary, negation, member, index, items)


EXPRESSIONS = st.recursive(LEAVES, _tree, max_leaves=12)


@FAST
@given(EXPRESSIONS)
def test_generated_expressions_round_trip(pair: tuple[str, str]) -> None:
    source, tree = pair
    (stmt,) = parse(f"result = {source}", "gen.bas").body
    assert expr(stmt.value) == tree  # type: ignore[union-attr]
