"""Every statement of the dialect, compiled from text and run."""

from __future__ import annotations

import pytest

from gb.compiler import BasicRuntimeError
from gb.compiler.syntax import ast

from .support import P, at, binary, name, num, run, run_tree, text, value_of


def test_talk_hear_and_interpolation() -> None:
    outcome = run(
        """
        TALK "Hello, what is your name?"
        HEAR name
        TALK "Hi, ${name}! You are " + age + "."
        """,
        ["Ana"],
        globals={"Age": 30},
    )
    assert outcome.out == ["Hello, what is your name?", "Hi, Ana! You are 30."]


def test_if_elseif_else_and_one_line_forms() -> None:
    src = """
    IF n > 10 THEN
        TALK "big"
    ELSEIF n > 5 THEN
        TALK "medium"
    ELSE IF n = 5 THEN
        TALK "five"
    ELSE
        TALK "small"
    END IF
    IF n = 1 THEN TALK "one"
    """
    assert run(src, globals={"n": 11}).out == ["big"]
    assert run(src, globals={"n": 7}).out == ["medium"]
    assert run(src, globals={"n": 5}).out == ["five"]
    assert run(src, globals={"n": 1}).out == ["small", "one"]


def test_for_step_signs_and_final_value() -> None:
    src = """
    s = ""
    FOR i = 1 TO 5
        s = s & i
    NEXT i
    FOR j = 10 TO 1 STEP -3
        s = s & "," & j
    NEXT
    FOR k = 0 TO 1 STEP 0.25
        s = s & ";" & k
    NEXT
    FOR m = 5 TO 1
        s = s & "never"
    NEXT
    RETURN s & "|" & i & "|" & j & "|" & m
    """
    assert value_of(src) == "12345,10,7,4,1;0;0.25;0.5;0.75;1|6|-2|5"


def test_for_with_text_bounds_that_are_numbers() -> None:
    assert value_of('t = 0\nFOR i = "1" TO "3"\nt = t + i\nNEXT\nRETURN t') == 6


def test_for_with_bad_bounds_fails_on_its_line() -> None:
    with pytest.raises(BasicRuntimeError) as info:
        run('TALK "x"\nFOR i = 1 TO "lots"\nNEXT')
    assert info.value.line == 2
    assert 'the string "lots" is not a number' in info.value.message


def test_exit_for_and_exit_do() -> None:
    src = """
    FOR i = 1 TO 100
        IF i = 3 THEN EXIT FOR
    NEXT
    n = 0
    DO
        n = n + 1
        IF n >= 4 THEN EXIT DO
    LOOP
    RETURN i * 10 + n
    """
    assert value_of(src) == 34


def test_do_loop_forms() -> None:
    src = """
    a = 0
    DO WHILE a < 3
        a = a + 1
    LOOP
    b = 0
    DO UNTIL b >= 3
        b = b + 2
    LOOP
    c = 10
    DO
        c = c + 1
    LOOP WHILE c < 5
    d = 0
    DO
        d = d + 1
    LOOP UNTIL d = 2
    e = 0
    WHILE e < 4
        e = e + 1
    WEND
    RETURN a & b & c & d & e
    """
    assert value_of(src) == "34112" + "4"


def test_for_each_over_lists_maps_markers_and_null() -> None:
    src = """
    out = ""
    FOR EACH x IN items
        out = out & x & ","
    NEXT
    FOR EACH row IN rows
        out = out & row.name & ";"
    NEXT
    FOR EACH v IN m
        out = out & v & "."
    NEXT
    FOR EACH p IN paged
        out = out & p
    NEXT
    FOR EACH n IN nothing
        out = out & "never"
    NEXT
    RETURN out
    """
    rows = [{"gbarray": "0"}, {"name": "Ana"}, {"name": "Bia"}]
    globals = {
        "items": [1, "two", 3.5],
        "rows": rows,
        "m": {"a": 1, "b": 2},
        "paged": {"items": ["p", "q"], "totalCount": 2},
        "nothing": None,
    }
    assert value_of(src, globals=globals) == "1,two,3.5,Ana;Bia;1.2.pq"


def test_for_each_walks_a_snapshot() -> None:
    src = """
    l = [1, 2]
    FOR EACH x IN l
        l[UBOUND(l)] = x * 10
    NEXT
    RETURN JOIN(l, "-")
    """
    assert value_of(src) == "1-2-10-20"


def test_for_each_over_text_fails() -> None:
    with pytest.raises(BasicRuntimeError, match="FOR EACH needs a list or a map"):
        run('FOR EACH c IN "abc"\nNEXT')


def test_select_case_values_ranges_and_is() -> None:
    src = """
    SELECT CASE x
        CASE 1, 2
            r = "one or two"
        CASE 3 TO 5
            r = "three to five"
        CASE IS > 100
            r = "huge"
        CASE "a"
            r = "letter"
        CASE ELSE
            r = "other"
    END SELECT
    RETURN r
    """
    expected = {
        1: "one or two",
        2: "one or two",
        4: "three to five",
        500: "huge",
        "a": "letter",
        50: "other",
        "1": "other",
    }
    for x, r in expected.items():
        assert value_of(src, globals={"x": x}) == r


def config(key: str) -> ast.KeywordCall:
    return ast.KeywordCall(P, "GET CONFIG", [text(key)])


def talk(value: ast.Expr) -> ast.KeywordStmt:
    return ast.KeywordStmt(P, ast.KeywordCall(P, "TALK", [value]))


def test_select_case_with_keyword_calls_in_tests() -> None:
    select = ast.Select(
        at(1),
        num(2),
        [
            ast.Case(at(2), [config("one"), (config("low"), config("two"))], [talk(text("one"))]),
            ast.Case(at(4), [("<=", config("two"))], [talk(text("two"))]),
        ],
    )
    assert run_tree(select, config={"one": 1, "low": 5, "two": 2}).out == ["two"]


def test_functions_recursion_locals_and_globals() -> None:
    src = """
    counter = 0
    FUNCTION fib(n)
        counter = counter + 1
        IF n < 2 THEN
            RETURN n
        END IF
        tmp = fib(n - 1)
        RETURN tmp + fib(n - 2)
    END FUNCTION
    FUNCTION double(x)
        double = x * 2
    END FUNCTION
    SUB greet(who)
        TALK "hi " + who
        EXIT SUB
        TALK "never"
    END SUB
    greet "Ana"
    CALL greet("Bia")
    RETURN fib(10) & "/" & counter & "/" & double(21)
    """
    outcome = run(src)
    assert outcome.out == ["hi Ana", "hi Bia"]
    assert outcome.value == "55/177/42"
    assert "tmp" not in outcome.dialog.variables()  # local to fib: every call has its own


def test_function_exit_and_missing_arguments() -> None:
    src = """
    FUNCTION f(a, b)
        IF ISNULL(b) THEN
            f = "no b"
            EXIT FUNCTION
        END IF
        f = a + b
    END FUNCTION
    RETURN f(1, NULL) & "|" & f(1, 2)
    """
    assert value_of(src) == "no b|3"


def test_function_calls_in_conditions_keep_short_circuit() -> None:
    src = """
    calls = 0
    FUNCTION check(v)
        calls = calls + 1
        RETURN v
    END FUNCTION
    IF FALSE AND check(TRUE) THEN TALK "no"
    IF TRUE OR check(TRUE) THEN TALK "yes"
    IF TRUE AND check(TRUE) THEN TALK "both"
    IF FALSE OR check(FALSE) THEN TALK "no"
    RETURN calls
    """
    outcome = run(src)
    assert outcome.out == ["yes", "both"]
    assert outcome.value == 2


def test_evaluation_stays_left_to_right_around_calls() -> None:
    src = """
    x = 1
    FUNCTION bump()
        x = x + 10
        RETURN 0
    END FUNCTION
    RETURN x + bump() + x
    """
    assert value_of(src) == 12


def test_keyword_calls_inside_expressions() -> None:
    total = binary("+", config("a"), binary("*", config("b"), num(2)))
    body = [
        ast.Assign(at(1), name("total"), total),
        talk(binary("+", text("total "), name("total"))),
        ast.If(at(3), [(binary("and", name("total"), config("b")), [talk(config("a"))])]),
        ast.ExprStmt(at(4), config("a")),
    ]
    assert run_tree(*body, config={"a": 1, "b": 20}).out == ["total 41", "1"]


def test_return_and_end_stop_the_dialog() -> None:
    assert value_of('TALK "a"\nRETURN "result"\nTALK "never"') == "result"
    assert run('TALK "a"\nEND\nTALK "never"').out == ["a"]
    assert run('TALK "a"\nEXIT\nTALK "never"').value is None
    src = """
    SUB stop()
        END
    END SUB
    stop
    TALK "never"
    """
    assert run(src).out == []


def test_assignments_to_members_and_items() -> None:
    src = """
    o = NEW OBJECT
    o.name = "Ana"
    o.Name = "Bia"
    l = NEW ARRAY
    l[0] = "first"
    l[1] = o
    l[1].age = 3
    m = {"k": 1}
    m["k"] = m["k"] + 1
    RETURN o.name & l[0] & l(1).AGE & m.k & UBOUND(l)
    """
    assert value_of(src) == "Biafirst322"


def test_members_and_items_assigned_from_keywords() -> None:
    src = """
    o = NEW OBJECT
    o.a = GET CONFIG "x"
    l = [0]
    l[0] = GET CONFIG "x"
    HEAR o.b
    RETURN o.a & l[0] & o.b
    """
    assert run(src, ["!"], config={"x": "y"}).value == "yy!"


def test_wait_and_log_go_through_the_registry() -> None:
    outcome = run('WAIT 2\nLOG "note"')
    assert outcome.ctx.slept == [2.0]
    assert outcome.ctx.log == ["note"]
