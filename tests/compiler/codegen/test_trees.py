"""Code generation from hand-built trees: shapes the parser does not produce (keyword calls
deep inside expressions), native loop variants, and what the generator refuses."""

from __future__ import annotations

import pytest

from gb.compiler import CompileError, Dialog
from gb.compiler.codegen.asm import Asm, BlockRef
from gb.compiler.syntax import ast

from .support import (
    REGISTRY,
    P,
    at,
    binary,
    compile_text,
    name,
    num,
    run,
    run_tree,
    text,
    tree,
    value_of,
)


def config(key: str) -> ast.KeywordCall:
    return ast.KeywordCall(P, "GET CONFIG", [text(key)])


def ret(e: ast.Expr, *before: ast.Stmt, **kwargs: object) -> object:
    return run_tree(*before, ast.Return(at(9), e), **kwargs).value  # type: ignore[arg-type]


CONFIG = {"a": 2, "s": "txt", "l": [1, 2], "m": {"k": "v"}, "t": True, "f": False}


def test_keyword_calls_inside_every_kind_of_expression() -> None:
    c = CONFIG
    assert ret(ast.Unary(P, "-", config("a")), config=c) == -2
    assert ret(ast.Member(P, config("m"), "k"), config=c) == "v"
    assert ret(ast.Index(P, config("l"), config("t")), config={**c, "t": 1}) == 2
    assert ret(text("<", config("s"), ">"), config=c) == "<txt>"
    assert ret(ast.ListLit(P, [num(1), config("a")]), config=c) == [1, 2]
    assert ret(ast.MapLit(P, [("x", config("a"))]), config=c) == {"x": 2}
    assert ret(ast.Call(P, "LEN", [config("s")]), config=c) == 3
    assert ret(binary("and", config("t"), name("y")), globals={"y": 5}, config=c) is True
    assert ret(binary("or", config("f"), config("t")), config=c) is True


def test_left_operands_are_saved_before_a_call() -> None:
    e = binary("&", binary("+", name("x"), num(1)), binary("&", text("k"), config("s")))
    assert ret(e, globals={"x": 1}, config=CONFIG) == "2ktxt"


def test_text_parts_are_merged() -> None:
    assert ret(text("a", "b", "", name("x"), "c"), globals={"x": 1}) == "ab1c"


def test_functions_missing_and_extra_arguments() -> None:
    fn = ast.FunctionDef(at(1), "f", ["a", "b"], [ast.Return(at(2), name("b"))])
    call = ast.Call(P, "f", [num(1)])
    assert ret(call, fn) is None
    with pytest.raises(CompileError, match="f takes 2 argument"):
        tree(fn, ast.Return(at(3), ast.Call(P, "f", [num(1), num(2), num(3)])))


def test_a_sub_called_by_its_bare_name_and_statements_of_values() -> None:
    sub = ast.FunctionDef(at(1), "hello", [], [ast.Assign(at(2), name("said"), num(1))], True)
    body = [
        sub,
        ast.ExprStmt(at(3), name("hello")),
        ast.ExprStmt(at(4), ast.Call(P, "LEN", [text("x")])),
    ]
    assert ret(name("said"), *body) == 1


def test_return_without_value() -> None:
    fn = ast.FunctionDef(
        at(1), "f", [], [ast.Assign(at(2), name("f"), num(7)), ast.Return(at(3), None)]
    )
    assert ret(ast.Call(P, "f", []), fn) == 7
    assert run_tree(ast.Return(at(1), None), ast.Return(at(2), num(1))).value is None


def test_for_loop_variable_inside_a_function_is_local() -> None:
    loop = ast.For(at(2), "i", num(1), num(3), None, [])
    fn = ast.FunctionDef(at(1), "f", [], [loop, ast.Return(at(3), name("i"))])
    outcome = run_tree(fn, ast.Return(at(4), ast.Call(P, "f", [])))
    assert outcome.value == 4
    assert "i" not in outcome.dialog.variables()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([ast.Exit(at(1), "function")], "EXIT FUNCTION outside a FUNCTION or SUB"),
        ([ast.Exit(at(1), "for")], "EXIT FOR outside a FOR loop"),
        ([ast.DoLoop(at(1), None, [ast.Exit(at(2), "for")])], "EXIT FOR outside a FOR loop"),
        (
            [ast.FunctionDef(at(1), "s", [], [ast.Return(at(2), num(1))], True)],
            "SUB s cannot return a value",
        ),
        ([ast.Return(at(1), ast.Call(P, "nope", []))], "cannot compile nope here"),
        ([ast.Return(at(1), ast.Call(P, "LEN", []))], "LEN takes 1 to 1 arguments"),
        ([ast.Return(at(1), ast.Call(P, "ABS", []))], "ABS takes 1 to 1 arguments"),
    ],
)
def test_what_the_generator_refuses(body: list[ast.Stmt], message: str) -> None:
    with pytest.raises(CompileError) as info:
        tree(*body)
    assert info.value.diagnostics[0].message.startswith(message)
    assert info.value.diagnostics[0].file == "tree.bas"


def test_exit_reaches_the_right_kind_of_loop() -> None:
    inner = ast.For(at(2), "i", num(1), num(5), None, [ast.Exit(at(3), "do")])
    outer = ast.DoLoop(at(1), None, [inner, ast.Assign(at(4), name("never"), num(1))])
    assert ret(name("i"), outer) == 1


NATIVE = """
total = 0
hits = ""
FOR i = 1 TO 10
    IF i MOD 2 = 0 THEN
        total = total + i
    ELSEIF i = 5 THEN
        total = total + 100
    ELSE
        total = total - 1
    END IF
    SELECT CASE i
        CASE 1, 2
            hits = hits & "a"
        CASE 3 TO 4
            hits = hits & "b"
        CASE IS > 8
            hits = hits & "c"
        CASE ELSE
            hits = hits & "-"
    END SELECT
    IF i = 9 THEN EXIT FOR
NEXT
RETURN total & "/" & hits & "/" & i
"""


def test_native_loops_with_branches_and_select() -> None:
    assert value_of(NATIVE) == "116/aabb----c/9"


def test_native_loops_and_the_block_version_agree() -> None:
    unit = compile_text(NATIVE)
    dialog = Dialog.start(unit, REGISTRY)
    dialog.step_mode = True  # a debugger: the block version runs
    while (s := dialog.step()).reason == "break":
        pass
    assert s.value == "116/aabb----c/9"


def test_native_loop_leaves_for_the_block_version_when_a_value_is_not_a_number() -> None:
    src = """
    s = 0
    FOR i = 1 TO 4
        s = s + x MOD 3
        IF i = 2 THEN x = "4"
    NEXT
    RETURN s
    """
    assert value_of(src, globals={"x": 7}) == 1 + 1 + 1 + 1
    src = "s = 0\nFOR i = 1 TO 3\ns = s + 2.5 MOD y\nNEXT\nRETURN s"
    assert value_of(src, globals={"y": 2}) == 1.5


def test_native_loops_exit_early_everywhere() -> None:
    src = """
    FUNCTION find(limit)
        FOR i = 1 TO 100
            IF i * i > limit THEN RETURN i
        NEXT
    END FUNCTION
    FUNCTION give_up()
        DO
            EXIT FUNCTION
        LOOP
    END FUNCTION
    n = 0
    DO WHILE TRUE
        n = n + 1
        FOR k = 1 TO 3
            IF n = 3 THEN EXIT DO
        NEXT
    LOOP
    x = give_up()
    FOR j = 1 TO 10
        IF j = 4 THEN END
    NEXT
    """
    outcome = run(src)
    assert outcome.dialog.variables()["n"] == 3 and outcome.dialog.variables()["j"] == 4
    assert value_of("x = 0\nDO\nx = x + 1\nIF x = 6 THEN RETURN x\nLOOP") == 6
    fn = "FUNCTION f()\nFOR i = 1 TO 5\nIF i = 2 THEN RETURN i * 10\nNEXT\nEND FUNCTION\nRETURN f()"
    assert value_of(fn) == 20


def test_loops_with_calls_are_not_native() -> None:
    src = """
    FUNCTION one()
        RETURN 1
    END FUNCTION
    SUB noop()
    END SUB
    t = 0
    FOR i = 1 TO 3
        t = t + one()
    NEXT
    FOR i = 1 TO 2
        noop
    NEXT
    FOR i = 1 TO 2
        FOR j = 1 TO 2
            t = t + 10
        NEXT
    NEXT
    RETURN t
    """
    assert value_of(src) == 43


def test_numbers_in_native_loops_start_as_something_else() -> None:
    src = "s = NULL\nFOR i = 1 TO 3\ns = s + i\nNEXT\nRETURN s"
    assert value_of(src) == 6
    assert value_of('s = "x"\nFOR i = 1 TO 2\ns = s & i\nNEXT\nRETURN s') == "x12"


def test_errors_inside_native_loops_write_variables_back() -> None:
    src = "s = 0\nFOR i = 1 TO 10\ns = s + 1\nt = 1 / (5 - i)\nNEXT"
    with pytest.raises(Exception, match="division by zero"):
        run(src)
    dialog = Dialog.start(compile_text(src), REGISTRY)
    assert dialog.step().reason == "error"
    assert dialog.variables()["s"] == 5 and dialog.variables()["i"] == 5


def test_statements_of_included_files_name_their_file() -> None:
    from gb.compiler import compile_source

    files = {"lib.bas": 'x = 1\nTALK "from lib"\ny = 1 / 0\n'}
    unit = compile_source(
        'TALK "main"\nINCLUDE "lib.bas"\nTALK "after"\n',
        "main.bas",
        REGISTRY,
        include_loader=files.__getitem__,
    )
    dialog = Dialog.start(unit, REGISTRY)
    seen = []
    while (s := dialog.step()).reason == "call":
        seen.append((s.args[0], s.line, dialog.file))
        dialog.resume()
    assert seen == [("main", 1, "main.bas"), ("from lib", 2, "lib.bas")]
    assert str(s.value) == "lib.bas:3: runtime error: division by zero"
    assert unit.debug.statement_lines == frozenset({1, 3})


def test_asm_refuses_to_place_a_block_twice() -> None:
    asm = Asm(0)
    ref = asm.new_block()
    with pytest.raises(ValueError, match="already placed"):
        asm.place(ref)
    assert BlockRef().id == -1


def test_loop_bodies_with_calls_in_nested_statements_or_bare_subs() -> None:
    sub = ast.FunctionDef(
        at(1), "tick", [], [ast.Assign(at(2), name("n"), binary("+", name("n"), num(1)))], True
    )
    talk = ast.KeywordStmt(at(4), ast.KeywordCall(P, "TALK", [name("i")]))
    loops = [
        ast.Assign(at(3), name("n"), num(0)),
        ast.For(at(3), "i", num(1), num(2), None, [ast.ExprStmt(at(3), name("tick"))]),
        ast.For(at(4), "i", num(1), num(2), None, [ast.If(at(4), [(ast.Bool(P, True), [talk])])]),
    ]
    outcome = run_tree(sub, *loops, ast.Return(at(5), name("n")))
    assert (outcome.value, outcome.out) == (2, ["1", "2"])
