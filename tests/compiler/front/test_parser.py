"""The parser: every construct of the dialect, and its error messages and recovery."""

from __future__ import annotations

import pytest

from gb.compiler.diagnostics import CompileError
from gb.compiler.syntax import ast, parse
from gb.compiler.syntax.parser import MAX_ERRORS
from tests.compiler.front.render import body, errors, one


@pytest.mark.parametrize(
    ("source", "tree"),
    [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("2 ^ 3 ^ 2", "((2 ^ 3) ^ 2)"),
        ("-2 ^ 2", "(- (2 ^ 2))"),
        ("2 ^ -1", "(2 ^ (- 1))"),
        ("2 ^ +-1", "(2 ^ (+ (- 1)))"),
        ("a * b / c \\ d MOD e % f", "(((((a * b) / c) \\ d) mod e) mod f)"),
        ("a - b + c", "((a - b) + c)"),
        ("a & b + c", "(a & (b + c))"),
        ("a + b = c & d", "((a + b) = (c & d))"),
        ("a == b", "(a = b)"),
        ("a === b", "(a = b)"),
        ("a != b", "(a <> b)"),
        ("a !== b", "(a <> b)"),
        ("a < b <= c", "((a < b) <= c)"),
        ("a > b", "(a > b)"),
        ("a >= b", "(a >= b)"),
        ("NOT a = b", "(not (a = b))"),
        ("NOT NOT a", "(not (not a))"),
        ("!a = b", "((not a) = b)"),
        ("a + NOT b", "(a + (not b))"),
        ("a AND b OR c AND d", "((a and b) or (c and d))"),
        ("a && b || c", "((a and b) or c)"),
        ("a Or Not b And c", "(a or ((not b) and c))"),
        ("TRUE", "true"),
        ("false", "false"),
        ("NULL", "null"),
        ("Nothing", "null"),
        ("NEW OBJECT", "{}"),
        ("new array", "[]"),
        ("[1, 'a', [2],]", '[1, "a", [2]]'),
        ("[]", "[]"),
        ('{a: 1, "b c": 2, 3: x, 1.5: y}', "{a: 1, b c: 2, 3: x, 1.5: y}"),
        ("{}", "{}"),
        ("row.Name.first", "row.Name.first"),
        ("row. Name", "row.Name"),
        ("list[i + 1][0]", "list[(i + 1)][0]"),
        ("f(1, g(2))", "f(1, g(2))"),
        ("f()", "f()"),
        ("x.y(1)", "x.y[1]"),
        ("f(1)(2)", "f(1)[2]"),
        ("x.AND", "x.AND"),
        ('"a${b}c${ d + "e" }"', '"a${b}c${(d + "e")}"'),
        ('"${""}"', '"${""}"'),
        ('"it\'s"', '"it\'s"'),
        ("name$ & ''", '(name$ & "")'),
        ("&H10 + 1", "(16 + 1)"),
        ("new + 1", "(new + 1)"),
    ],
)
def test_expressions(source: str, tree: str) -> None:
    assert one(f"x = {source}") == f"x = {tree}"


def test_expression_errors() -> None:
    assert errors("x = (1 + 2") == [
        "1:11: expected ')' to close the parenthesis, found the end of the line"
    ]
    assert errors("x = [1 2]") == ["1:8: expected ',' between list items, found the number 2"]
    assert errors("x = {a 1}") == ["1:8: expected ':' after the key, found the number 1"]
    assert errors("x = {(a): 1}") == ["1:6: expected a key, found '('"]
    assert errors('x = {"${a}": 1}') == ["1:6: expected a key, found a string"]
    assert errors("x = {a: 1 b: 2}") == ["1:11: expected ',' between entries, found 'b'"]
    assert errors("x = f(1 2)") == ["1:9: expected ',' between arguments, found the number 2"]
    assert errors("x = a[1") == ["1:8: expected ']' to close the index, found the end of the line"]
    assert errors("x = a.") == ["1:7: expected a member name after '.', found the end of the line"]
    assert errors("x = a.(1)") == ["1:7: expected a member name after '.', found '('"]
    assert errors("x = 1 +") == ["1:8: expected an expression, found the end of the line"]
    assert errors("x = AND") == ["1:5: expected an expression, found 'AND'"]
    assert errors("x = a.b(1, 2)") == [
        "1:8: a member cannot be called: only a FUNCTION, SUB or built-in function can "
        "(methods are not supported)"
    ]
    assert errors("x = 1 ? 2") == ["1:7: unexpected character '?'"]
    assert errors("x = ?") == ["1:5: unexpected character '?'"]
    assert errors('x = "${}"') == ["1:6: empty ${} in a string"]
    assert errors('x = "${a b}"') == ["1:10: expected '}' to end the interpolation, found 'b'"]
    assert errors('x = "${a +}"') == ["1:11: expected an expression, found the end of the line"]
    assert errors('x = "abc') == [
        "1:5: unterminated string: a string must close on the line it opens"
    ]


def test_assignments() -> None:
    assert body(
        "x = 1\nLET y = 2\nlet z += 3\nrow.a = 1\nrow['b'] = 2\nlist(0) = 3\n"
        "w -= 1\nw *= 2\nw /= 3\nw &= \"s\"\nDIM a, b AS String = 4\nDim c\nSET s = NEW OBJECT"
    ) == [
        "x = 1", "y = 2", "z = (z + 3)", "row.a = 1", 'row["b"] = 2', "list[0] = 3",
        "w = (w - 1)", "w = (w * 2)", "w = (w / 3)", 'w = (w & "s")',
        "a = null", "b = 4", "c = null", "s = {}",
    ]  # fmt: skip


def test_assignment_errors() -> None:
    assert errors('"a" = 1') == ["1:1: cannot assign to a string"]
    assert errors("f(1, 2) = 3") == ["1:1: cannot assign to a call"]
    assert errors("x.y() = 3") == [
        "1:4: a member cannot be called: only a FUNCTION, SUB or built-in function can "
        "(methods are not supported)"
    ]
    assert errors("LET 5 = 1") == ["1:5: cannot assign to a number"]
    assert errors("LET x") == [
        "1:6: expected '=' after the LET variable, found the end of the line"
    ]
    assert errors("DIM 1") == ["1:5: expected a name after DIM, found the number 1"]
    assert errors("x = 1 2") == ["1:7: expected the end of the statement, found the number 2"]
    assert errors("x = foo 2") == [
        "1:5: unknown keyword FOO: expected an operator or the end of the statement after it, "
        "found the number 2"
    ]


def test_statements_that_are_calls() -> None:
    assert body("CALL f(1, 2)\ncall g\nf(3)\nsub1\nsub2 1, \"a\"\nsub3 (4)\nshow {a: 1}") == [
        "call f(1, 2)", "call g()", "call f(3)", "call sub1()", 'call sub2(1, "a")',
        "call sub3(4)", "call show({a: 1})",
    ]  # fmt: skip


def test_statement_errors() -> None:
    assert errors("x + 1") == ["1:1: expected a statement, found an expression (x + …)"]
    assert errors("row.x") == [
        "1:1: expected a statement, found an expression: a member is not called or assigned"
    ]
    assert errors("+ 1") == ["1:1: expected a statement, found '+'"]
    assert errors("(1)") == ["1:1: expected a statement, found '('"]
    assert errors("AND") == ["1:1: expected a statement, found 'AND'"]
    assert errors("CALL 1") == ["1:6: expected a name after CALL, found the number 1"]
    assert errors("? x") == ["1:1: unexpected character '?'"]


def test_colon_separates_statements() -> None:
    assert body("x = 1 : y = 2 :: z = 3") == ["x = 1", "y = 2", "z = 3"]


def test_block_if() -> None:
    src = """
IF a THEN
  x = 1
ELSEIF b Then
  x = 2
Else If c THEN
  x = 3
ELSE
  x = 4
END IF
if d then
elseif e then x = 5
else: y = 6
endif
"""
    assert body(src) == [
        ("IF", "a", ["x = 1"], "b", ["x = 2"], "c", ["x = 3"], "ELSE", ["x = 4"]),
        ("IF", "d", [], "e", ["x = 5"], "ELSE", ["y = 6"]),
    ]


def test_one_line_if() -> None:
    assert body(
        "IF a THEN x = 1\nIF a THEN x = 1 : y = 2 ELSE z = 3 : w = 4\n"
        "IF a THEN IF b THEN x = 1 ELSE y = 2\nIF a THEN ELSE y = 1\n"
        'IF a THEN TALK "yes" ELSE TALK "no"\nIF a THEN EXIT FOR'
    ) == [
        ("IF", "a", ["x = 1"]),
        ("IF", "a", ["x = 1", "y = 2"], "ELSE", ["z = 3", "w = 4"]),
        ("IF", "a", [("IF", "b", ["x = 1"], "ELSE", ["y = 2"])]),
        ("IF", "a", [], "ELSE", ["y = 1"]),
        ("IF", "a", ['<TALK>("yes")'], "ELSE", ['<TALK>("no")']),
        ("IF", "a", ["EXIT for"]),
    ]


def test_if_errors() -> None:
    assert errors('IF x > 3 TALK "big"\nTALK "ok"') == [
        "1:10: expected THEN after the IF condition"
    ]
    # THEN missing at the end of the line: still a block, so END IF is not reported
    assert errors("IF x > 3\n  y = 1\nEND IF") == ["1:9: expected THEN after the IF condition"]
    # THEN alone is read as a variable named "then"
    assert errors("IF THEN\nEND IF") == ["1:8: expected THEN after the IF condition"]
    assert errors("IF a THEN\nx = 1") == [
        "2:6: expected END IF to close the IF at line 1, found the end of the file"
    ]
    assert errors("IF a THEN\nELSE IF b\nEND IF") == [
        "2:10: expected THEN after the ELSE IF condition, found the end of the line"
    ]
    assert errors("IF a THEN\nELSE\nELSE\nx = 1\nEND IF") == [
        "3:1: ELSE IF or ELSE after the ELSE of this IF"
    ]
    assert errors("IF a THEN\nEND IF x") == ["2:8: expected the end of the statement, found 'x'"]
    assert errors("IF a THEN FOR i = 1 TO 2") == [
        "1:11: a FOR block cannot follow THEN on the same line; put it on its own lines inside "
        "IF … END IF"
    ]
    assert errors("IF a THEN NEXT") == ["1:11: NEXT cannot follow THEN on the same line"]
    assert errors("IF a THEN IF b THEN\nEND IF") == [
        "1:11: a block IF cannot follow THEN on the same line",
        "2:1: END IF without IF",
    ]


def test_for_loops() -> None:
    assert body(
        "FOR i = 1 TO 10 STEP -2\n  s = s + i\nNEXT i\nFor Each item In list\n  x = item\n"
        "Next\nFOR j = a TO b\nEND FOR\nfor k = 1 to 2 : next k"
    ) == [
        ("FOR i = 1 TO 10 STEP (- 2)", ["s = (s + i)"]),
        ("FOR EACH item IN list", ["x = item"]),
        ("FOR j = a TO b", []),
        ("FOR k = 1 TO 2", []),
    ]


def test_for_errors() -> None:
    assert errors("FOR i = 1 TO\n  x = i\nNEXT i\nx = = 2\nFOR j = 1 TO 3\nNEXT k") == [
        "1:13: expected an expression, found the end of the line",
        "4:5: expected an expression, found '='",
        "6:6: NEXT k does not match FOR j",
    ]
    assert errors("FOR 1 = 1 TO 2\nNEXT") == ["1:5: expected a name after FOR, found the number 1"]
    assert errors("FOR i 1 TO 2\nNEXT") == [
        "1:7: expected '=' after the FOR variable, found the number 1"
    ]
    assert errors("FOR i = 1 2\nNEXT") == [
        "1:11: expected TO after the FOR start value, found the number 2"
    ]
    assert errors("FOR EACH x list\nNEXT") == [
        "1:12: expected IN after the FOR EACH variable, found 'list'"
    ]
    assert errors("FOR i = 1 TO 2\nNEXT 5") == [
        "2:6: expected the end of the statement, found the number 5"
    ]
    assert errors("FOR i = 1 TO 2\n  IF i THEN\nNEXT\nEND IF") == [
        "3:1: expected END IF to close the IF at line 2, found 'NEXT'",
        "4:1: END IF without IF",
    ]
    assert errors("NEXT\nEND IF\nLOOP\nWEND\nCASE 1\nEND SELECT\nEND FUNCTION\nEND SUB") == [
        "1:1: NEXT without FOR", "2:1: END IF without IF", "3:1: LOOP without DO",
        "4:1: WEND without WHILE", "5:1: CASE without SELECT CASE",
        "6:1: END SELECT without SELECT CASE", "7:1: END FUNCTION without FUNCTION",
        "8:1: END SUB without SUB",
    ]  # fmt: skip


def test_do_and_while_loops() -> None:
    assert body(
        "DO WHILE i < 3\n i = i + 1\nLOOP\nDo Until done\nLoop\nDO\n  EXIT DO\nLOOP WHILE x\n"
        "DO\nLOOP UNTIL x\nDO\nLOOP\nWHILE x > 0\n x = x - 1\nWEND\nwhile y\nend while"
    ) == [
        ("DO WHILE (i < 3)", ["i = (i + 1)"]),
        ("DO UNTIL done", []),
        ("DO LOOP WHILE x", ["EXIT do"]),
        ("DO LOOP UNTIL x", []),
        ("DO", []),
        ("DO WHILE (x > 0)", ["x = (x - 1)"]),
        ("DO WHILE y", []),
    ]


def test_loop_errors() -> None:
    assert errors("DO WHILE a\nLOOP UNTIL b\nx = 1") == [
        "2:6: a DO loop tests its condition at the top or at the bottom, not both"
    ]
    assert errors("DO WHILE\nLOOP") == ["1:9: expected an expression, found the end of the line"]
    assert errors("WHILE\nWEND") == ["1:6: expected an expression, found the end of the line"]
    assert errors("DO\nx = 1") == [
        "2:6: expected LOOP to close the DO at line 1, found the end of the file"
    ]
    assert errors("WHILE a\nLOOP") == [
        "2:1: LOOP without DO",
        "2:5: expected END WHILE or WEND to close the WHILE at line 1, found the end of the file",
    ]


def test_select_case() -> None:
    src = """
SELECT CASE x
  CASE 1, 2
    y = 1
  CASE 3 TO 5, IS >= 10, Is <> 7
    y = 2
  CASE "a": y = 3
  CASE ELSE
    y = 4
END SELECT
select case lang
  case "en":
    t = 1
    break
  default:
    t = 2
end select
"""
    assert body(src) == [
        ("SELECT x", "CASE 1, 2", ["y = 1"], "CASE 3 TO 5, IS >= 10, IS <> 7", ["y = 2"],
         'CASE "a"', ["y = 3"], "CASE ELSE", ["y = 4"]),
        ("SELECT lang", 'CASE "en"', ["t = 1"], "CASE ELSE", ["t = 2"]),
    ]  # fmt: skip


def test_select_errors() -> None:
    assert errors("SELECT CASE x\n  y = 1\n  CASE 1\nEND SELECT") == [
        "2:3: expected CASE: statements in a SELECT CASE must follow a CASE"
    ]
    assert errors("SELECT CASE x\nCASE ELSE\nCASE 1\nEND SELECT") == ["3:1: CASE after CASE ELSE"]
    assert errors("SELECT CASE x\nCASE IS\nEND SELECT") == [
        "2:8: expected a comparison after CASE IS, found the end of the line"
    ]
    assert errors("SELECT CASE\nEND SELECT") == [
        "1:12: expected an expression, found the end of the line"
    ]
    assert errors("SELECT CASE x\nCASE 1\n") == [
        "3:1: expected END SELECT to close the SELECT CASE at line 1, found the end of the file"
    ]


def test_break() -> None:
    assert body("FOR i = 1 TO 2\n BREAK\nNEXT\nDO\n  IF x THEN BREAK\nLOOP") == [
        ("FOR i = 1 TO 2", ["EXIT for"]),
        ("DO", [("IF", "x", ["EXIT do"])]),
    ]
    assert errors("BREAK") == ["1:1: BREAK outside a loop or CASE"]
    assert errors("SELECT CASE x\nCASE 1\n  BREAK\n  y = 1\nEND SELECT") == [
        "3:3: BREAK inside a CASE must be its last statement (CASE arms do not fall through)"
    ]


def test_functions_and_subs() -> None:
    src = """
FUNCTION add(ByVal a AS Integer, b)
  add = a + b
  RETURN add
END FUNCTION
Sub greet
  TALK "hi"
  EXIT SUB
End Sub
SUB none()
END SUB
"""
    assert body(src) == [
        ("FUNCTION add(a, b)", ["add = (a + b)", "RETURN add"]),
        ("SUB greet()", ['<TALK>("hi")', "EXIT sub"]),
        ("SUB none()", []),
    ]


def test_function_errors() -> None:
    assert errors("FUNCTION f(a b)\nEND FUNCTION") == [
        "1:14: expected ',' between FUNCTION parameters, found 'b'"
    ]
    assert errors("FUNCTION 1\nEND FUNCTION") == [
        "1:10: expected a name after FUNCTION, found the number 1"
    ]
    assert errors("IF a THEN\nFUNCTION f\nEND FUNCTION\nEND IF") == [
        "2:1: a FUNCTION cannot be defined inside IF"
    ]
    assert errors("FUNCTION f\nEND SUB") == [
        "2:1: END SUB without SUB",
        "2:8: expected END FUNCTION to close the FUNCTION at line 1, found the end of the file",
    ]


def test_return_exit_end() -> None:
    assert body("RETURN\nRETURN 1 + 2\nEXIT\nEXIT FOR\nexit while\nEXIT FUNCTION\nEND") == [
        "RETURN", "RETURN (1 + 2)", "EXIT program", "EXIT for", "EXIT do", "EXIT function",
        "EXIT program",
    ]  # fmt: skip
    assert errors("EXIT NOW") == [
        "1:6: expected FOR, DO, WHILE, FUNCTION or SUB after EXIT, found 'NOW'"
    ]
    assert errors("END x") == ["1:5: expected the end of the statement after END, found 'x'"]
    assert errors("END TALK\nEND TABLE\nEND SYSTEM PROMPT") == [
        "1:1: END TALK without BEGIN TALK",
        "2:1: END TABLE without TABLE",
        "3:1: END SYSTEM without BEGIN SYSTEM PROMPT",
    ]


def test_metadata() -> None:
    program = parse(
        'PARAM name AS string LIKE "Ana" DESCRIPTION "Full name"\n'
        "PARAM when\n"
        'param unit as "celsius", "fahrenheit" like celsius\n'
        "PARAM n AS NUMBER DESCRIPTION “A number”\n"
        "DESCRIPTION Does ${things}: really\n"
        'SET SCHEDULE "0 9 * * *"\nSet Schedule 1 2 3 4 5 6\n',
        "t.bas",
    )
    assert [(p.name, p.type, p.example, p.description) for p in program.params] == [
        ("name", "string", "Ana", "Full name"),
        ("when", "string", None, None),
        ("unit", '"celsius", "fahrenheit"', "celsius", None),
        ("n", "number", None, "A number"),
    ]
    assert program.description == "Does ${things}: really"
    assert program.schedules == ["0 9 * * *", "1 2 3 4 5 6"]
    assert program.body == []


def test_metadata_errors() -> None:
    assert errors("PARAM") == [
        "1:6: expected a parameter name after PARAM, found the end of the line"
    ]
    assert errors("PARAM 1x AS y") == ["1:7: PARAM needs a name, found '1x'"]
    assert errors("PARAM a b") == [
        "1:7: expected PARAM a [AS type] [LIKE example] [DESCRIPTION text], found 'a b'"
    ]
    assert errors("DESCRIPTION") == [
        "1:12: expected the description text, found the end of the line"
    ]
    assert errors('SET SCHEDULE "often"') == [
        "1:14: SET SCHEDULE expects a cron expression of 5 or 6 fields, found '\"often\"'"
    ]


def test_begin_blocks() -> None:
    src = (
        'BEGIN TALK\nHello ${name}\n  second "line"\n\nEND TALK\n'
        "BEGIN SYSTEM PROMPT\nYou are ${role}.\nEND SYSTEM PROMPT\nBEGIN TALK\nEND TALK"
    )
    assert body(src) == [
        '<TALK>("Hello ${name}\n  second "line"\n")',
        '<SYSTEM PROMPT>("You are ${role}.")',
        '<TALK>("")',
    ]
    program = parse("BEGIN TALK\n  a ${x}\nEND TALK", "t.bas")
    (stmt,) = program.body
    assert isinstance(stmt, ast.KeywordStmt)
    text = stmt.call.args[0]
    assert isinstance(text, ast.String) and isinstance(text.parts[1], ast.Name)
    assert text.parts[1].pos == ast.Pos(2, 7)


def test_begin_errors() -> None:
    assert errors("BEGIN TALK\nhello") == ["1:1: BEGIN TALK at line 1 has no END TALK"]
    assert errors("BEGIN SYTEM PROMPT") == [
        "1:7: expected TALK or SYSTEM PROMPT after BEGIN, found 'SYTEM'"
    ]
    assert errors("BEGIN TALK\n a ${b\nEND TALK") == [
        "2:4: unterminated ${ in a string: expected '}'"
    ]
    assert errors("BEGIN TALK\n a ${b c}\nEND TALK") == [
        "2:8: expected '}' to end the interpolation, found 'c'"
    ]


def test_tables() -> None:
    program = parse(
        "TABLE Customers ON crm\n  Id number key\n  Name string(100) *\n"
        "  Email* String(MAX) unique\n\n  ' a comment\n  REM another\n  Other Orders\n"
        "  Seq integer auto\nEND TABLE\nTABLE Orders\nEND TABLE",
        "t.bas",
    )
    customers, orders = program.tables
    assert program.body == [customers, orders]
    assert (customers.name, customers.connection, orders.connection) == ("Customers", "crm", None)
    assert [
        (f.name, f.type, f.size, f.required, f.key, f.unique, f.auto, f.references)
        for f in customers.fields
    ] == [
        ("Id", "number", None, True, True, True, True, None),
        ("Name", "string", 100, True, False, False, False, None),
        ("Email", "string", 4000, True, False, True, False, None),
        ("Other", "reference", None, False, False, False, False, "Orders"),
        ("Seq", "integer", None, False, False, False, True, None),
    ]
    assert customers.fields[1].pos == ast.Pos(3, 3)


def test_table_errors() -> None:
    assert errors("TABLE T\n  x\n  y string(abc)\n  z string fast\n  w date\nEND TABLE") == [
        "2:3: expected a field: name type [(size)] [*] [KEY] [UNIQUE] [AUTO]",
        "3:3: bad field size 'abc': a number or MAX",
        "4:3: unknown field option 'fast'",
    ]
    assert errors("TABLE T\n  a string") == ["1:1: TABLE at line 1 has no END TABLE"]
    assert errors("TABLE T ON\nEND TABLE") == [
        "1:11: expected a name after ON, found the end of the line",
        "2:1: END TABLE without TABLE",
    ]


def test_includes() -> None:
    files = {
        "lib.bas": "PARAM q AS number\nDESCRIPTION lib\nFUNCTION twice(x)\n  RETURN x * 2\n"
        "END FUNCTION\nTABLE T\n a string\nEND TABLE\nSET SCHEDULE 0 9 * * *",
        "loop.bas": 'INCLUDE "loop2.bas"',
        "loop2.bas": "INCLUDE loop.bas",
        "bad.bas": 'TALK "a"\nIF x THEN\n',
    }
    program = parse(
        'INCLUDE "lib.bas"\nTALK twice(2)\nDESCRIPTION main', "main.bas",
        include_loader=files.__getitem__,
    )  # fmt: skip
    assert [s if isinstance(s, str) else s[0] for s in body("x = 1")] == ["x = 1"]
    assert [type(s).__name__ for s in program.body] == ["FunctionDef", "TableDef", "KeywordStmt"]
    assert program.body[0].pos == ast.Pos(3, 1, "lib.bas")
    assert program.body[2].pos == ast.Pos(2, 1, None)
    assert [p.name for p in program.params] == ["q"]
    assert program.description == "main"
    assert program.schedules == ["0 9 * * *"]
    assert [t.name for t in program.tables] == ["T"]
    assert set(program.sources) == {"main.bas", "lib.bas"}
    assert parse("INCLUDE lib.bas", "m.bas", include_loader=files.__getitem__).description == "lib"

    with pytest.raises(CompileError) as info:
        parse("INCLUDE loop.bas", "main.bas", include_loader=files.__getitem__)
    (d,) = info.value.diagnostics
    assert (d.file, d.line, d.col, d.message) == (
        "loop2.bas", 1, 9, "INCLUDE cycle: main.bas → loop.bas → loop2.bas → loop.bas",
    )  # fmt: skip
    with pytest.raises(CompileError) as info:
        parse("x = 1\nINCLUDE bad.bas", "main.bas", include_loader=files.__getitem__)
    (d,) = info.value.diagnostics
    assert (d.file, d.line) == ("bad.bas", 3)
    assert errors("INCLUDE nope.bas", include_loader=files.__getitem__) == [
        "1:9: cannot include nope.bas: 'nope.bas'"
    ]
    assert errors("INCLUDE x.bas") == ["1:1: INCLUDE needs an include loader (none was given)"]
    assert errors("INCLUDE") == [
        "1:8: expected a file name after INCLUDE, found the end of the line"
    ]
    with pytest.raises(CompileError) as info:
        parse("IF a THEN\nINCLUDE lib.bas\nEND IF", "m.bas", include_loader=files.__getitem__)
    assert [d.message for d in info.value.diagnostics] == ["a FUNCTION cannot be defined inside IF"]


def test_calls_of_variables_are_indexing() -> None:
    assert body(
        "a = NEW ARRAY\nx = a(1) + f(2)\nFOR EACH r IN a(0)\nNEXT\nHEAR h\ny = h(3)\n"
        "FUNCTION g(p)\n  RETURN p(1)\nEND FUNCTION\nFUNCTION a2()\nEND FUNCTION\n"
        "a2 = 1\nz = a2(1)\nn = a(1, 2)\nhour = 9\nh = HOUR(now)"
    ) == [
        "a = []",
        "x = (a[1] + f(2))",
        ("FOR EACH r IN a[0]", []),
        "h = <HEAR>()",
        "y = h[3]",
        ("FUNCTION g(p)", ["RETURN p[1]"]),
        ("FUNCTION a2()", []),
        "a2 = 1",
        "z = a2(1)",
        "n = a(1, 2)",
        "hour = 9",
        "h = hour(now)",
    ]


def test_recovery_reports_every_error_in_one_run() -> None:
    src = 'x = (\nTALK "ok"\nFOR i = 1 TO\nNEXT\ny = 1 +\nIF a THEN\nEND IF\nz = ]'
    assert errors(src) == [
        "1:6: expected an expression, found the end of the line",
        "3:13: expected an expression, found the end of the line",
        "5:8: expected an expression, found the end of the line",
        "8:5: expected an expression, found ']'",
    ]


def test_error_count_is_capped() -> None:
    found = errors("x = \n" * (MAX_ERRORS + 20))
    assert len(found) == MAX_ERRORS
    assert found[-1].endswith("(too many errors; stopping here)")


def test_rendered_error() -> None:
    with pytest.raises(CompileError) as info:
        parse('TALK "a"\nIF x > 3 TALK "big"\n', "hello.bas")
    assert str(info.value) == (
        "hello.bas:2:10: error: expected THEN after the IF condition\n"
        '    IF x > 3 TALK "big"\n'
        "             ^"
    )
    assert info.value.diagnostics[0].expected == "THEN"


def test_positions() -> None:
    program = parse('x = 1\n  TALK "a" + b', "t.bas")
    assign, talk = program.body
    assert assign.pos == ast.Pos(1, 1)
    assert isinstance(talk, ast.KeywordStmt)
    assert talk.pos == ast.Pos(2, 3)
    arg = talk.call.args[0]
    assert isinstance(arg, ast.Binary) and arg.right.pos == ast.Pos(2, 14)


@pytest.mark.parametrize(
    "source",
    [
        "x = " + "(" * 60 + "1" + ")" * 60,
        "x = " + "-" * 900 + "1",
        "x = " + "NOT " * 900 + "1",
        "x = 2 ^ " + "-" * 900 + "1",
        "x = " + "[" * 200 + "]" * 200,
        "x = " + "f(" * 200 + ")" * 200,
        "IF a THEN " * 200 + "x = 1",
    ],
    ids=["parens", "minus", "not", "power", "lists", "calls", "inline-ifs"],
)
def test_deep_nesting_is_an_error_not_a_crash(source: str) -> None:
    assert errors(source) == [
        f"1:{errors(source)[0].split(':')[1]}: nested more than 40 levels deep"
    ]


def test_deep_blocks_and_long_chains() -> None:
    found = errors("IF a THEN\n" * 200 + "END IF\n" * 200)
    assert found[0] == "40:4: nested more than 40 levels deep"
    assert errors("x = " + " + ".join(["1"] * 300)) == [
        "1:5: too complex: nested more than 200 levels deep"
    ]
    assert errors("x = " + '"${' * 20 + "1" + '}"' * 20) == [
        "1:5: strings nested more than 16 deep inside ${}"
    ]
    files = {f"f{i}.bas": f"INCLUDE f{i + 1}.bas" for i in range(60)}
    found = errors("INCLUDE f0.bas", include_loader=files.__getitem__)
    assert found == ["1:1: nested more than 40 levels deep"]
