"""The lexer: words, numbers, strings, comments, line structure and raw text."""

from __future__ import annotations

import pytest

from gb.compiler.syntax.lexer import Lexer, split_interpolations, tokenize
from gb.compiler.syntax.tokens import Interp, T, Token


def kinds(text: str) -> list[tuple[str, str]]:
    return [(t.kind.name, t.text) for t in tokenize(text) if t.kind is not T.EOF]


def test_words_numbers_operators_and_positions() -> None:
    toks = tokenize("x$ = 1.5e3 + .25 <= &HFF")
    assert [(t.kind, t.text, t.line, t.col) for t in toks] == [
        (T.WORD, "x$", 1, 1),
        (T.OP, "=", 1, 4),
        (T.NUMBER, "1.5e3", 1, 6),
        (T.OP, "+", 1, 12),
        (T.NUMBER, ".25", 1, 14),
        (T.OP, "<=", 1, 18),
        (T.NUMBER, "&HFF", 1, 21),
        (T.NEWLINE, "", 1, 25),
        (T.EOF, "", 1, 25),
    ]
    assert toks[2].value == 1500.0 and toks[4].value == 0.25 and toks[6].value == 255.0


def test_longest_operators_first() -> None:
    ops = [
        t.text for t in tokenize("a === b !== c == d != e <> f && g || h += 1") if t.kind is T.OP
    ]
    assert ops == ["===", "!==", "==", "!=", "<>", "&&", "||", "+="]


def test_hex_only_where_an_operand_is_expected() -> None:
    # After an operand, & is concatenation and H… a name.
    assert kinds("a &HFF") == [("WORD", "a"), ("OP", "&"), ("WORD", "HFF"), ("NEWLINE", "")]
    assert kinds("&H1F") == [("NUMBER", "&H1F"), ("NEWLINE", "")]


def test_member_dot_after_an_operand_is_not_a_number() -> None:
    assert kinds("a.5") == [("WORD", "a"), ("OP", "."), ("NUMBER", "5"), ("NEWLINE", "")]


def test_unicode_words_and_whitespace() -> None:
    toks = tokenize("preço\u00a0= 1\x0c")
    assert [t.text for t in toks[:3]] == ["preço", "=", "1"]


def test_double_quoted_strings_are_templates() -> None:
    (tok,) = [t for t in tokenize('"a\\tb ${x + 1} c"') if t.kind is T.STRING]
    assert tok.value == ("a\tb ", Interp("x + 1", 1, 9), " c")


@pytest.mark.parametrize("quote", ['"', "\u201c", "\u201d", "\u00a8", "`"])
def test_every_double_quote_character_opens_and_closes(quote: str) -> None:
    (tok,) = [t for t in tokenize(f'x = {quote}hi"') if t.kind is T.STRING]
    assert tok.value == ("hi",)


def test_escapes() -> None:
    text = '"\\n\\r\\b\\f\\v\\0\\x41\\u0042\\u{1F600}\\q\\"\\\\"'
    (tok,) = [t for t in tokenize(text) if t.kind is T.STRING]
    assert tok.value == ('\n\r\b\f\v\x00AB\U0001f600q"\\',)


def test_bad_and_trailing_escapes_stand_for_themselves() -> None:
    (tok,) = [t for t in tokenize('"\\xZZ\\u{110000}"') if t.kind is T.STRING]
    assert tok.value == ("xZZu{110000}",)
    (tok,) = [t for t in tokenize("x = 'a\\") if t.kind is T.STRING] or [None]
    assert tok is None  # an unterminated ' is a comment


def test_empty_string() -> None:
    (tok,) = [t for t in tokenize('x = ""') if t.kind is T.STRING]
    assert tok.value == ("",)


def test_nested_strings_and_braces_inside_interpolation() -> None:
    (tok,) = [t for t in tokenize('"${ f("}") + {a: 1}.a + \'}\' } end"') if t.kind is T.STRING]
    assert tok.value[0] == Interp(" f(\"}\") + {a: 1}.a + '}' ", 1, 4)
    assert tok.value[1] == " end"


def test_unterminated_strings_are_bad_tokens() -> None:
    bad = [t for t in tokenize('x = "abc\ny = 2') if t.kind is T.BAD]
    assert bad[0].value == "unterminated string: a string must close on the line it opens"
    assert (bad[0].line, bad[0].col) == (1, 5)
    bad = [t for t in tokenize('x = "a ${b"') if t.kind is T.BAD]
    assert "unterminated" in str(bad[0].value)
    bad = [t for t in tokenize('x = "a ${ \'b }"') if t.kind is T.BAD]
    assert "unterminated" in str(bad[0].value)


def test_stray_characters_are_bad_tokens() -> None:
    toks = tokenize("x = 1 ? 2 @")
    bad = [(t.text, t.col, t.value) for t in toks if t.kind is T.BAD]
    assert bad == [("?", 7, "unexpected character '?'"), ("@", 11, "unexpected character '@'")]


def test_comments() -> None:
    assert kinds("' whole line\nREM also\nx = 1 ' trailing\ny = 2 : REM after colon") == [
        ("WORD", "x"), ("OP", "="), ("NUMBER", "1"), ("NEWLINE", ""),
        ("WORD", "y"), ("OP", "="), ("NUMBER", "2"), ("OP", ":"), ("NEWLINE", ""),
    ]  # fmt: skip


def test_rem_only_as_a_whole_word_at_a_statement_start() -> None:
    assert kinds("remaining = 1")[0] == ("WORD", "remaining")
    assert kinds("x = rem")[2] == ("WORD", "rem")


def test_single_quote_is_a_string_after_an_operator_or_keyword() -> None:
    toks = [t for t in tokenize("TALK 'hi' + '/' + x 'note") if t.kind is T.STRING]
    assert [t.value for t in toks] == [("hi",), ("/",)]
    toks = [t for t in tokenize("x = \u2018a\u2019") if t.kind is T.STRING]
    assert toks[0].value == ("a",)
    # after a closing bracket it is a comment
    assert kinds("f(x) 'note") == [
        ("WORD", "f"), ("OP", "("), ("WORD", "x"), ("OP", ")"), ("NEWLINE", ""),
    ]  # fmt: skip


def test_leading_line_numbers_are_dropped() -> None:
    assert kinds("10 TALK x\n20\n  30   y = 1") == [
        ("WORD", "TALK"), ("RAW", "x"), ("NEWLINE", ""),
        ("WORD", "y"), ("OP", "="), ("NUMBER", "1"), ("NEWLINE", ""),
    ]  # fmt: skip


def test_line_continuation() -> None:
    toks = tokenize("x = 1 + _\n    2\ny = 3")
    assert [(t.kind.name, t.text, t.line) for t in toks] == [
        ("WORD", "x", 1), ("OP", "=", 1), ("NUMBER", "1", 1), ("OP", "+", 1),
        ("NUMBER", "2", 2), ("NEWLINE", "", 2),
        ("WORD", "y", 3), ("OP", "=", 3), ("NUMBER", "3", 3), ("NEWLINE", "", 3),
        ("EOF", "", 3),
    ]  # fmt: skip
    # a continued line does not start a statement: no line number is stripped there
    assert [t.text for t in tokenize("x = _\n5")][:3] == ["x", "=", "5"]
    # an underscore elsewhere is part of a name
    assert kinds("a _b")[:2] == [("WORD", "a"), ("WORD", "_b")]


def test_crlf_and_blank_lines() -> None:
    assert kinds("x = 1\r\n\r\n\ny = 2\r\n") == [
        ("WORD", "x"), ("OP", "="), ("NUMBER", "1"), ("NEWLINE", ""),
        ("WORD", "y"), ("OP", "="), ("NUMBER", "2"), ("NEWLINE", ""),
    ]  # fmt: skip
    assert tokenize("") == [Token(T.EOF, "", 1, 1)]


def test_raw_statements() -> None:
    assert kinds('PARAM name AS string LIKE "Ana": x') == [
        ("WORD", "PARAM"), ("RAW", 'name AS string LIKE "Ana": x'), ("NEWLINE", ""),
    ]  # fmt: skip
    assert kinds("Set  Schedule 0 9 * * *") == [
        ("WORD", "Set"), ("WORD", "Schedule"), ("RAW", "0 9 * * *"), ("NEWLINE", ""),
    ]  # fmt: skip
    assert kinds("DESCRIPTION")[0:2] == [("WORD", "DESCRIPTION"), ("NEWLINE", "")]
    # followed by '=' they are names
    assert kinds("param = 1")[:2] == [("WORD", "param"), ("OP", "=")]


def test_select_sql_is_raw() -> None:
    assert kinds("r.x = SELECT a, 'b' FROM t") == [
        ("WORD", "r"), ("OP", "."), ("WORD", "x"), ("OP", "="),
        ("WORD", "SELECT"), ("RAW", "a, 'b' FROM t"), ("NEWLINE", ""),
    ]  # fmt: skip
    assert ("RAW", "CASE x") not in kinds("x = SELECT CASE x")


def test_unquoted_talk_text_is_raw() -> None:
    assert kinds("TALK Hello, world!")[:2] == [("WORD", "TALK"), ("RAW", "Hello, world!")]
    assert kinds('TALK "quoted" + x')[1] == ("STRING", '"quoted"')
    assert kinds("TALK TO m, t")[1] == ("WORD", "TO")
    assert kinds("TALK(x)")[1] == ("OP", "(")
    assert kinds("talked = 1")[0] == ("WORD", "talked")


def test_blocks_are_raw_lines() -> None:
    text = 'BEGIN TALK\n  Hi ${name} "quoted" \u2019\n\nEND TALK\nx = 1'
    assert [(t.kind.name, t.text) for t in tokenize(text)] == [
        ("WORD", "BEGIN"), ("WORD", "TALK"), ("NEWLINE", ""),
        ("BLOCK", '  Hi ${name} "quoted" \u2019'), ("BLOCK", ""),
        ("WORD", "END"), ("WORD", "TALK"), ("NEWLINE", ""),
        ("WORD", "x"), ("OP", "="), ("NUMBER", "1"), ("NEWLINE", ""), ("EOF", ""),
    ]  # fmt: skip
    table = kinds("TABLE T ON db ' comment\n a string\n10 END TABLE")
    assert ("BLOCK", " a string") in table and table[-2:] == [("WORD", "TABLE"), ("NEWLINE", "")]
    assert kinds("BEGIN SYSTEM PROMPT\nx\nEND  SYSTEM PROMPT")[4] == ("BLOCK", "x")
    # not a block start: more on the line
    assert ("BLOCK", "y") not in kinds("TABLE T = 1\ny")


def test_expression_mode_keeps_line_numbers_and_offsets() -> None:
    toks = Lexer("10 + x", line=3, col=7, expression=True).tokens()
    assert [(t.text, t.line, t.col) for t in toks[:3]] == [("10", 3, 7), ("+", 3, 10), ("x", 3, 12)]


def test_split_interpolations() -> None:
    assert split_interpolations("Hi ${name}!", 2, 1) == ["Hi ", Interp("name", 2, 6), "!"]
    assert split_interpolations("", 1, 1) == [""]
    with pytest.raises(ValueError) as info:
        split_interpolations("a ${b", 4, 3)
    assert info.value.args == (5, "unterminated ${ in a string: expected '}'")


def test_token_helpers() -> None:
    word = Token(T.WORD, "Talk", 1, 1)
    assert word.upper == "TALK" and word.is_word("TALK", "X") and not word.is_op("TALK")
    assert Token(T.NEWLINE, "", 1, 1).describe() == "the end of the line"
    assert Token(T.EOF, "", 1, 1).describe() == "the end of the file"
    assert Token(T.STRING, '"a"', 1, 1).describe() == "a string"
    assert Token(T.NUMBER, "12", 1, 1).describe() == "the number 12"
    assert Token(T.RAW, "abc", 1, 1).describe() == "'abc'"
    assert Token(T.OP, "+", 1, 1).describe() == "'+'"
