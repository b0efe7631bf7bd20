"""The parser: tokens → :class:`ast.Program`, by recursive descent with error recovery.

Statements are line-oriented. A statement that fails records a :class:`Diagnostic` and the
parser resumes at the next line, so one run reports every error; a block header that fails
(``FOR i = TO 9``) still opens its block, so the ``NEXT`` that closes it is not reported too.

Keywords are soft (see ``tokens``): a statement is an assignment when its first word is
followed by ``=``, a control statement when it starts with one (``IF``, ``FOR`` …), a keyword
statement when its first words are the key words of a catalog form (``compiler.keywords``),
and otherwise a call of a FUNCTION/SUB (``CALL f(x)``, ``f(x)``, ``f x, y``, ``f``).
Expression precedence, loosest first: ``OR ||``, ``AND &&``, ``NOT``, comparisons
(``= == === <> != !== < <= > >=``), ``&``, ``+ -``, ``* / \\ MOD %``, unary ``- + !``, ``^``,
then member access, indexing and calls.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ..diagnostics import CompileError, Diagnostic, source_line, split_lines
from ..keywords import builders
from ..keywords.catalog import BY_FIRST_WORD, PHRASES, SUFFIX_FORMS
from ..keywords.forms import Element, Form, Optional, Punct, Slot, Word, slots
from . import ast
from .lexer import Lexer, split_interpolations
from .tokens import RESERVED, Interp, T, Token
from .walk import depth, rewrite, walk

IncludeLoader = Callable[[str], str]

#: Most diagnostics one compilation reports (a file that is not BASIC at all would
#: otherwise produce one per line).
MAX_ERRORS = 100
#: Deepest nesting of blocks, brackets, unary operators and INCLUDEs the parser accepts: it
#: recurses once per level and must stay far from Python's recursion limit.
MAX_NESTING = 40
#: Deepest syntax tree accepted (``1+1+…+1`` is as deep as it is long), so that every later
#: pass over the tree may recurse too.
MAX_TREE_DEPTH = 200

_COMPARE = {"=": "=", "==": "=", "===": "=", "<>": "<>", "!=": "<>", "!==": "<>",
            "<": "<", "<=": "<=", ">": ">", ">=": ">="}  # fmt: skip
_ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "&=")
_TABLE_TYPES = frozenset(
    {"string", "guid", "key", "number", "integer", "double", "float", "date", "boolean"}
)
_FIELD = re.compile(
    r"\s*(?P<name>[^\W\d]\w*)\s*(?P<star>\*)?\s+(?P<type>[^\W\d]\w*)"
    r"(?:\s*\(\s*(?P<size>[^)]*?)\s*\))?(?P<rest>.*)$"
)
_PARAM = re.compile(
    r"(?:AS\s+(?P<type>.*?))?(?:(?:^|\s+)LIKE\s+(?P<like>.*?))?"
    r"(?:(?:^|\s+)DESCRIPTION\s+(?P<desc>.*?))?\s*",
    re.IGNORECASE | re.DOTALL,
)
_NAME = re.compile(r"[^\W\d]\w*\$?")
_QUOTED = re.compile(
    r"""^(["\u201c\u201d\u00a8`'\u2018\u2019])(.*)(["\u201c\u201d\u00a8`'\u2018\u2019])$"""
)

#: Block terminators by the kind of block they close.
_ENDS = {
    "IF": frozenset({"ELSEIF", "ELSE", "END IF"}),
    "ELSE": frozenset({"END IF", "ELSE", "ELSEIF"}),
    "FOR": frozenset({"NEXT", "END FOR"}),
    "DO": frozenset({"LOOP"}),
    "WHILE": frozenset({"WEND", "END WHILE"}),
    "SELECT": frozenset({"CASE", "END SELECT"}),
    "CASE": frozenset({"CASE", "END SELECT"}),
    "FUNCTION": frozenset({"END FUNCTION"}),
    "SUB": frozenset({"END SUB"}),
}
_OPENER = {
    "ELSEIF": "IF", "ELSE": "IF", "END IF": "IF", "NEXT": "FOR", "END FOR": "FOR",
    "LOOP": "DO", "WEND": "WHILE", "END WHILE": "WHILE", "CASE": "SELECT CASE",
    "END SELECT": "SELECT CASE", "END FUNCTION": "FUNCTION", "END SUB": "SUB",
}  # fmt: skip
_END_WORDS = frozenset({"IF", "FOR", "WHILE", "SELECT", "FUNCTION", "SUB"})
_BLOCK_NAMES = {"TALK": "BEGIN TALK", "SYSTEM": "BEGIN SYSTEM PROMPT", "TABLE": "TABLE"}


class ParseError(Exception):
    """A syntax error at a token (caught per statement and recorded)."""

    def __init__(self, token: Token, message: str, expected: str | None = None) -> None:
        super().__init__(message)
        self.token = token
        self.message = message
        self.expected = expected

    @property
    def where(self) -> tuple[int, int]:
        return (self.token.line, self.token.col)


class Parser:
    """Parses one source file (an INCLUDEd file gets its own parser sharing the diagnostics)."""

    def __init__(
        self,
        text: str,
        file: str,
        *,
        include_loader: IncludeLoader | None = None,
        including: tuple[str, ...] = (),
        diagnostics: list[Diagnostic] | None = None,
        pos_file: str | None = None,
        tokens: list[Token] | None = None,
    ) -> None:
        self.text = text
        self.file = file
        self.lines = split_lines(text)
        self.toks = tokens if tokens is not None else Lexer(text).tokens()
        self.i = 0
        self.diagnostics = diagnostics if diagnostics is not None else []
        self.include_loader = include_loader
        self.including = including or (file,)
        self.pos_file = pos_file
        self.program = ast.Program(file=file, body=[], sources={file: text})
        self.stops: list[tuple[str, ...]] = []
        self.limit: int | None = None
        self.inline = 0  # depth of one-line IFs (ELSE ends a statement there)
        self.blocks: list[str] = []  # kinds of the open blocks, innermost last
        self.open_ends: list[frozenset[str]] = []
        self.furthest: ParseError | None = None
        self.depth = 0  # current nesting, see MAX_NESTING

    # ---- entry points --------------------------------------------------------------------

    def parse(self) -> ast.Program:
        """The whole program; raises CompileError listing every syntax error."""
        self.parse_file()
        deepest, node = depth(self.program)
        if deepest > MAX_TREE_DEPTH:
            self.record_at(node.pos, f"too complex: nested more than {MAX_TREE_DEPTH} levels deep")
        if self.diagnostics:
            raise CompileError(self.diagnostics)
        _index_variables(self.program)
        return self.program

    def record_at(self, pos: ast.Pos, message: str) -> None:
        """Add a diagnostic at a node's position (in whichever file it comes from)."""
        file = pos.file or self.file
        line = source_line(self.program.sources[file], pos.line)
        self.diagnostics.append(Diagnostic(file, pos.line, pos.col, message, None, line))

    @contextmanager
    def deeper(self) -> Iterator[None]:
        """One more level of nesting (an error past MAX_NESTING)."""
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise self.error(f"nested more than {MAX_NESTING} levels deep")
            yield
        finally:
            self.depth -= 1

    def parse_file(self) -> ast.Program:
        """Parse into ``self.program``, recording (not raising) the errors."""
        self.program.body = self.block(frozenset())
        return self.program

    # ---- tokens --------------------------------------------------------------------------

    def peek(self, k: int = 0) -> Token:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)  # never past the EOF token
        return tok

    def pos(self, tok: Token) -> ast.Pos:
        return ast.Pos(tok.line, tok.col, self.pos_file)

    def at_end(self) -> bool:
        """Whether the current statement ends here."""
        tok = self.peek()
        if self.limit is not None and self.i >= self.limit:
            return True
        return (
            tok.kind in (T.NEWLINE, T.EOF)
            or tok.is_op(":")
            or (self.inline > 0 and tok.is_word("ELSE"))
        )

    def error(
        self, message: str, expected: str | None = None, tok: Token | None = None
    ) -> ParseError:
        return ParseError(tok or self.peek(), message, expected)

    def expect_op(self, op: str, context: str) -> Token:
        if not self.peek().is_op(op):
            raise self.error(
                f"expected '{op}' {context}, found {self.peek().describe()}", f"'{op}'"
            )
        return self.advance()

    def expect_word(self, word: str, context: str) -> Token:
        if not self.peek().is_word(word):
            raise self.error(f"expected {word} {context}, found {self.peek().describe()}", word)
        return self.advance()

    def end_statement(self) -> None:
        if self.peek().kind is T.BAD:
            raise self.error(str(self.peek().value))
        if not self.at_end():
            raise self.error(
                f"expected the end of the statement, found {self.peek().describe()}",
                "end of statement",
            )

    def name_token(self, context: str) -> Token:
        tok = self.peek()
        if tok.kind is not T.WORD or tok.upper in RESERVED:
            raise self.error(f"expected a name {context}, found {tok.describe()}", "a name")
        return self.advance()

    def record(self, exc: ParseError) -> None:
        """Add the error as a diagnostic (up to MAX_ERRORS)."""
        if len(self.diagnostics) >= MAX_ERRORS:
            return
        tok = exc.token
        line = self.lines[tok.line - 1] if 1 <= tok.line <= len(self.lines) else ""
        message = exc.message
        if len(self.diagnostics) == MAX_ERRORS - 1:
            message += " (too many errors; stopping here)"
        self.diagnostics.append(
            Diagnostic(self.file, tok.line, tok.col, message, exc.expected, line)
        )

    def sync(self) -> None:
        """Skip to the end of the current line (error recovery)."""
        while self.peek().kind not in (T.NEWLINE, T.EOF):
            self.advance()

    def note_failure(self, exc: ParseError) -> None:
        if self.furthest is None or exc.where > self.furthest.where:
            self.furthest = exc

    # ---- blocks --------------------------------------------------------------------------

    def at_line_start(self) -> bool:
        """Whether the current token starts a line (a block that did not close stops at the
        next line's terminator)."""
        return self.i > 0 and self.toks[self.i - 1].kind is T.NEWLINE

    def skip_separators(self) -> None:
        while self.peek().kind is T.NEWLINE or self.peek().is_op(":"):
            self.advance()

    def terminator(self) -> str | None:
        """The block terminator starting the current statement, if any."""
        tok, nxt = self.peek(), self.peek(1)
        if tok.kind is not T.WORD or nxt.is_op(*_ASSIGN_OPS, ".", "["):
            return None
        word = tok.upper
        if word == "END" and nxt.kind is T.WORD and nxt.upper in _END_WORDS:
            return f"END {nxt.upper}"
        if word == "ENDIF":
            return "END IF"
        if word == "ELSEIF" or (word == "ELSE" and nxt.is_word("IF")):
            return "ELSEIF"
        if word in ("ELSE", "NEXT", "LOOP", "WEND", "CASE"):
            return word
        if word == "DEFAULT" and nxt.is_op(":"):
            return "CASE"
        return None

    def consume_terminator(self, term: str) -> None:
        """Skip the words of terminator ``term`` (``END IF`` is two tokens, ``ENDIF`` one)."""
        first = self.advance()
        if term.startswith("END ") and first.upper == "END":
            self.advance()

    def block(self, ends: frozenset[str]) -> list[ast.Stmt]:
        """Statements up to a terminator in ``ends`` or one closing an enclosing block (left
        unread), or the end of the file."""
        out: list[ast.Stmt] = []
        self.open_ends.append(ends)
        try:
            with self.deeper():
                while True:
                    self.skip_separators()
                    tok = self.peek()
                    if tok.kind is T.EOF:
                        return out
                    term = self.terminator()
                    if term is not None:
                        if any(term in e for e in self.open_ends):
                            return out
                        self.record(self.error(f"{term} without {_OPENER[term]}"))
                        self.sync()
                        continue
                    try:
                        out.extend(self.statement())
                        if not self.at_line_start():
                            self.end_statement()
                    except ParseError as exc:
                        self.record(exc)
                        self.sync()
        finally:
            self.open_ends.pop()

    @contextmanager
    def opened(self, kind: str) -> Iterator[None]:
        self.blocks.append(kind)
        try:
            yield
        finally:
            self.blocks.pop()

    def close(self, opener: Token, kind: str, expected: frozenset[str]) -> str | None:
        """Consume the terminator that ends a block of ``kind`` opened at ``opener``; if the
        block ended otherwise (EOF, an outer block's terminator), report it and return None."""
        term = self.terminator()
        if term in expected:
            assert term is not None
            self.consume_terminator(term)
            return term
        names = " or ".join(sorted(expected))
        self.record(
            self.error(
                f"expected {names} to close the {kind} at line {opener.line}, "
                f"found {self.peek().describe()}",
                names,
            )
        )
        return None

    # ---- statements ----------------------------------------------------------------------

    def statement(self) -> list[ast.Stmt]:
        """One statement (several for INPUT and FIND … OR TALK; none for metadata)."""
        tok = self.peek()
        if tok.kind is T.BAD:
            raise self.error(str(tok.value))
        if tok.kind is T.WORD:
            nxt = self.peek(1)
            if nxt.is_op(*_ASSIGN_OPS):
                return self.assign_rest(self.lvalue(self.postfix()))
            if not (nxt.is_op(".", "[") and self._assignment_ahead()):
                handler = _STATEMENTS.get(tok.upper)
                if handler is not None:
                    result = handler(self)
                    if result is not None:
                        return result
                forms = self.forms_here()
                if forms:
                    return self.keyword_statement(forms, target=None)
        return self.other_statement()

    def _assignment_ahead(self) -> bool:
        """Whether an assignment operator follows in this statement (``row.x = 1``), outside
        brackets."""
        depth = 0
        index = self.i
        while True:
            tok = self.toks[index]
            if tok.kind in (T.NEWLINE, T.EOF) or (depth == 0 and tok.is_op(":")):
                return False
            if tok.is_op("(", "[", "{"):
                depth += 1
            elif tok.is_op(")", "]", "}"):
                depth -= 1
            elif depth == 0 and tok.is_op(*_ASSIGN_OPS):
                return True
            index += 1

    def forms_here(self) -> list[Form]:
        """The catalog forms whose key words start at the current token."""
        out = []
        for form in BY_FIRST_WORD.get(self.peek().upper, ()) if self.peek().kind is T.WORD else ():
            if all(self.peek(k).is_word(w) for k, w in enumerate(form.words)):
                out.append(form)
        return out

    def inline_statements(self) -> list[ast.Stmt]:
        """The statements after THEN (or ELSE) of a one-line IF."""
        out: list[ast.Stmt] = []
        self.inline += 1
        try:
            with self.deeper():
                while True:
                    tok = self.peek()
                    if tok.is_op(":"):
                        self.advance()
                        continue
                    if self.at_end():
                        return out
                    term = self.terminator()
                    if term is not None:
                        raise self.error(f"{term} cannot follow THEN on the same line")
                    if tok.kind is T.WORD and tok.upper in _BLOCK_STATEMENTS:
                        raise self.error(
                            f"a {tok.upper} block cannot follow THEN on the same line; "
                            "put it on its own lines inside IF … END IF"
                        )
                    out.extend(self.statement())
                    self.end_statement()
        finally:
            self.inline -= 1

    def assign_rest(self, target: ast.LValue) -> list[ast.Stmt]:
        """``= value`` (or ``+= value`` …) after an assignment target."""
        op = self.advance()
        if op.text != "=":
            value = self.expr()
            current = copy.deepcopy(target)
            binary = ast.Binary(target.pos, op.text[0], current, value)
            return [ast.Assign(target.pos, target, binary)]
        return self.assignment_value(target)

    def assignment_value(self, target: ast.LValue) -> list[ast.Stmt]:
        """The right side of ``target =``: a keyword form or an expression."""
        start = self.i
        forms = self.forms_here()
        form_error: ParseError | None = None
        if forms and self._rhs_form_applies(forms):
            if all(f.has_target for f in forms):
                word = " ".join(forms[0].words)
                raise self.error(
                    f"{word} cannot be used after '=': it names its own variable", tok=self.peek()
                )
            try:
                return self.keyword_statement(forms, target=target)
            except ParseError as exc:
                form_error = exc
                self.i = start
        try:
            value = self.expr()
            for form in SUFFIX_FORMS:
                words = [e.text for e in form.elements[1:] if isinstance(e, Word)]
                if all(self.peek(k).is_word(w) for k, w in enumerate(words)):
                    for _ in words:
                        self.advance()
                    call = ast.KeywordCall(value.pos, form.keyword, [value])
                    return [ast.KeywordStmt(target.pos, call, target)]
            if not self.at_end() and isinstance(value, ast.Name) and self._starts_operand():
                raise self.error(
                    f"unknown keyword {self.toks[start].text.upper()}: expected an operator or "
                    f"the end of the statement after it, found {self.peek().describe()}",
                    tok=self.toks[start],
                )
            self.end_statement()
        except ParseError as exc:
            if form_error is not None and form_error.where >= exc.where:
                raise form_error from None
            raise
        return [ast.Assign(target.pos, target, value)]

    def _rhs_form_applies(self, forms: list[Form]) -> bool:
        """Whether ``x = WORD …`` is a keyword form rather than an expression: not when an
        operator follows the key words (``x = answer + 1``), nor for a lone single word
        (``x = answer``)."""
        words = len(forms[0].words)
        after = self.peek(words)
        if after.kind is T.OP and after.text not in ("(", "[", "{", "#"):
            return False
        return words > 1 or not self._at_end_at(self.i + 1)

    def _at_end_at(self, index: int) -> bool:
        saved, self.i = self.i, index
        try:
            return self.at_end()
        finally:
            self.i = saved

    def _starts_operand(self) -> bool:
        tok = self.peek()
        return tok.kind in (T.STRING, T.NUMBER) or (
            tok.kind is T.WORD and tok.upper not in RESERVED
        )

    def lvalue(self, expr: ast.Expr) -> ast.LValue:
        """``expr`` as an assignment target (``a(1)`` is an element of ``a``)."""
        if isinstance(expr, ast.Name | ast.Member | ast.Index):
            return expr
        if isinstance(expr, ast.Call) and len(expr.args) == 1:
            return ast.Index(expr.pos, ast.Name(expr.pos, expr.name), expr.args[0])
        raise ParseError(
            self.token_at(expr.pos), f"cannot assign to {_describe(expr)}", "a variable"
        )

    def source_text(self, pos: ast.Pos, length: int) -> str:
        """``length`` characters of the source at ``pos`` (names as written)."""
        line = self.lines[pos.line - 1]
        return line[pos.col - 1 : pos.col - 1 + length]

    def token_at(self, pos: ast.Pos) -> Token:
        """The token a node of this file starts with (for an error about the node)."""
        return next(t for t in self.toks if (t.line, t.col) == (pos.line, pos.col))

    def other_statement(self) -> list[ast.Stmt]:
        """An assignment to a member/element, or a FUNCTION/SUB call."""
        tok = self.peek()
        if tok.kind is not T.WORD or tok.upper in RESERVED:
            if tok.kind in (T.NUMBER, T.STRING) or tok.is_op("(", "[", "{"):
                expr = self.postfix()
                if self.peek().is_op(*_ASSIGN_OPS):
                    self.lvalue(expr)
            raise self.error(f"expected a statement, found {tok.describe()}", "a statement", tok)
        expr = self.postfix()
        if self.peek().is_op(*_ASSIGN_OPS):
            return self.assign_rest(self.lvalue(expr))
        if isinstance(expr, ast.Call):
            return [ast.ExprStmt(expr.pos, expr)]
        if isinstance(expr, ast.Name):
            args: list[ast.Expr] = []
            if not self.at_end():
                if not (self._starts_operand() or self.peek().is_op("(", "[", "{")):
                    raise self.error(
                        f"expected a statement, found an expression ({tok.text} "
                        f"{self.peek().text} …)",
                        "a statement",
                        tok,
                    )
                args = self.expr_list()
            return [ast.ExprStmt(expr.pos, ast.Call(expr.pos, expr.ident, args))]
        raise self.error(
            f"expected a statement, found an expression: {_describe(expr)} is not called or "
            "assigned",
            "a statement",
            tok,
        )

    # ---- keyword forms -------------------------------------------------------------------

    def keyword_statement(self, forms: list[Form], target: ast.LValue | None) -> list[ast.Stmt]:
        """Match the first form of ``forms`` that fits the whole statement."""
        start = self.i
        first = self.peek()
        best: ParseError | None = None
        self.furthest = None
        for form in forms:
            if target is not None and form.has_target:
                continue
            self.i = start
            try:
                captures = self.match_form(form)
            except ParseError as exc:
                if best is None or exc.where > best.where:
                    best = exc
                continue
            result = self.build(form, captures, target, first)  # its errors are final
            if result is not None:
                return result
        self.i = start
        assert best is not None  # forms is not empty and not all of them were skipped
        if self.furthest is not None and self.furthest.where > best.where:
            best = self.furthest
        raise best

    def match_form(self, form: Form) -> dict[str, Any]:
        """Captures of ``form`` matched at the current statement (its key words first)."""
        self.i += len(form.words)
        rest = form.elements[len(form.words) :]
        captures: dict[str, Any] = {}
        close = self._wrapping_paren(rest)
        if close is not None:
            saved_limit, self.limit = self.limit, close
            self.advance()
            try:
                self.match_elements(rest, captures)
                if self.i != close:
                    raise self.error(
                        f"expected ')' after the arguments of {' '.join(form.words)}", "')'"
                    )
            finally:
                self.limit = saved_limit
            self.advance()
        else:
            self.match_elements(rest, captures)
        if not self.at_end():
            raise self.error(
                f"expected the end of the statement, found {self.peek().describe()} "
                f"(usage: {form.usage})",
                "end of statement",
            )
        return captures

    def _wrapping_paren(self, rest: tuple[Element, ...]) -> int | None:
        """Index of the ``)`` when the arguments are written ``KEYWORD(a, b)``."""
        head = rest[0] if rest else None
        if isinstance(head, Optional):
            head = head.elements[0]
        if not isinstance(head, Slot) or not self.peek().is_op("("):
            return None
        depth = 0
        index = self.i
        while self.toks[index].kind not in (T.NEWLINE, T.EOF):
            tok = self.toks[index]
            if tok.is_op("(", "[", "{"):
                depth += 1
            elif tok.is_op(")", "]", "}"):
                depth -= 1
                if depth == 0:
                    return index if self._at_end_at(index + 1) else None
            index += 1
        return None

    def match_elements(self, elements: tuple[Element, ...], captures: dict[str, Any]) -> None:
        for index, element in enumerate(elements):
            if isinstance(element, Word):
                self.expect_word(element.text, "here")
            elif isinstance(element, Punct):
                ops = (",", ";") if element.text == "," else (element.text,)
                if not self.peek().is_op(*ops):
                    raise self.error(
                        f"expected '{element.text}', found {self.peek().describe()}",
                        f"'{element.text}'",
                    )
                self.advance()
            elif isinstance(element, Optional):
                saved_i, saved = self.i, dict(captures)
                try:
                    self.match_elements(element.elements, captures)
                except ParseError as exc:
                    self.note_failure(exc)
                    self.i = saved_i
                    captures.clear()
                    captures.update(saved)
            else:
                stop = tuple(e.text for e in _leading_words(elements[index + 1 :]))
                self.stops.append(stop)
                try:
                    captures[element.name] = self.capture(element)
                finally:
                    self.stops.pop()

    def capture(self, slot: Slot) -> Any:
        tok = self.peek()
        if self.at_end() and slot.kind != "handle":
            raise self.error(f"expected {slot.name} here, found {tok.describe()}", slot.name)
        kind = slot.kind
        if kind == "expr":
            return self.expr()
        if kind == "list":
            return self.expr_list()
        if kind == "target":
            return self.lvalue(self.postfix())
        if (
            kind in ("word", "lword")
            and tok.kind is T.WORD
            and not self.peek(1).is_op(".", "[", "(")
        ):
            self.advance()
            return ast.String(self.pos(tok), [tok.text.lower() if kind == "lword" else tok.text])
        if kind in ("word", "lword"):
            return self.expr()
        if kind == "raw":
            if tok.kind is not T.RAW:
                raise self.error(f"expected {slot.name} here, found {tok.describe()}", slot.name)
            self.advance()
            return tok
        if kind == "text":
            return self.talk_text() if tok.kind is T.RAW else self.expr()
        if kind == "handle":
            if tok.kind is T.NUMBER:
                self.advance()
                return ast.Number(self.pos(tok), float(tok.value))  # type: ignore[arg-type]
            if tok.kind is T.WORD:
                self.advance()
                return ast.String(self.pos(tok), [tok.text])
            raise self.error(
                f"expected a file number or session name after '#', found {tok.describe()}",
                "a number or name",
            )
        if kind == "sheet":
            return self.sheet_name()
        # a choice of fixed words
        if tok.kind is T.WORD and tok.upper in slot.choices:
            self.advance()
            return ast.String(self.pos(tok), [tok.upper])
        raise self.error(
            f"expected {' or '.join(slot.choices)}, found {tok.describe()}", "|".join(slot.choices)
        )

    def talk_text(self) -> ast.Expr:
        """Unquoted TALK text: literal text with ``${}`` interpolation, as the original
        auto-quoted it — unless it is just a variable, member, element or call
        (``TALK name``), which gb reads as that value."""
        tok = self.advance()
        sub = Parser(
            tok.text,
            self.file,
            pos_file=self.pos_file,
            tokens=Lexer(tok.text, line=tok.line, col=tok.col, expression=True).tokens(),
        )
        sub.depth = self.depth
        try:
            expr = sub.postfix()
        except ParseError:
            return self.interpolated(tok.text, tok)
        last = sub.toks[sub.i - 1]
        if sub.peek().kind is T.NEWLINE and last.col + len(last.text) == tok.col + len(tok.text):
            return expr
        return self.interpolated(tok.text, tok)

    def interpolated(self, text: str, tok: Token) -> ast.String:
        """Literal text with ``${}`` interpolations starting at ``tok``'s position."""
        try:
            parts = split_interpolations(text, tok.line, tok.col)
        except ValueError as exc:
            col, message = exc.args
            raise ParseError(Token(T.BAD, "", tok.line, col), message) from None
        return self.string_parts(parts, tok)

    def sheet_name(self) -> ast.String:
        """``products.xlsx`` (words and dots) or ``"products.xlsx"``."""
        tok = self.peek()
        if tok.kind is T.STRING and all(isinstance(p, str) for p in tok.value):  # type: ignore[attr-defined]
            text = "".join(tok.value)  # type: ignore[arg-type]
            if text.lower().endswith(".xlsx"):
                self.advance()
                return ast.String(self.pos(tok), [text])
        start = self.i
        while (self.peek().kind is T.WORD or self.peek().is_op(".")) and not self.at_end():
            self.advance()
        last = self.toks[self.i - 1] if self.i > start else tok
        if (
            not (self.i - start >= 3 and last.is_word("XLSX") and self.toks[self.i - 2].is_op("."))
            or not self.at_end()
        ):
            self.i = start
            raise self.error("expected a spreadsheet name (name.xlsx)", "a .xlsx name")
        line = self.lines[tok.line - 1]
        return ast.String(self.pos(tok), [line[tok.col - 1 : last.col - 1 + len(last.text)]])

    def build(
        self, form: Form, captures: dict[str, Any], target: ast.LValue | None, first: Token
    ) -> list[ast.Stmt] | None:
        """The statements a matched form stands for (None: the form does not apply)."""
        pos = self.pos(first)
        if form.build is not None:
            return builders.BUILDERS[form.build](self, form, captures, target, pos)
        call = ast.KeywordCall(pos, form.keyword, builders.arguments(form, captures, pos))
        own = next((captures[s.name] for s in slots(form.elements) if s.kind == "target"), None)
        if own is None and form.target is not None:
            own = ast.Name(pos, form.target)
        stmt_pos = target.pos if target is not None else pos
        return [ast.KeywordStmt(stmt_pos, call, target if target is not None else own)]

    # ---- control statements --------------------------------------------------------------

    def if_statement(self) -> list[ast.Stmt] | None:
        opener = self.advance()
        pos = self.pos(opener)
        try:
            cond = self.expr()
            if not self.peek().is_word("THEN"):
                missing = self.error("expected THEN after the IF condition", "THEN")
                if self.peek().kind is not T.NEWLINE:
                    raise missing
                self.record(missing)
            else:
                self.advance()
        except ParseError as exc:
            self.record(exc)
            self.sync()
            return []
        if self.peek().kind not in (T.NEWLINE, T.EOF):
            then = self.inline_statements()
            orelse: list[ast.Stmt] = []
            if self.peek().is_word("ELSE"):
                self.advance()
                orelse = self.inline_statements()
            return [ast.If(pos, [(cond, then)], orelse)]
        if self.inline:
            raise self.error("a block IF cannot follow THEN on the same line", tok=opener)
        return [self.if_block(opener, pos, cond)]

    def if_block(self, opener: Token, pos: ast.Pos, cond: ast.Expr) -> ast.If:
        node = ast.If(pos, [])
        with self.opened("IF"):
            body = self.block(_ENDS["IF"])
            node.branches.append((cond, body))
            while self.terminator() == "ELSEIF":
                branch_at = self.peek()
                self.consume_elseif()
                try:
                    c = self.expr()
                    self.expect_word("THEN", "after the ELSE IF condition")
                except ParseError as exc:
                    self.record(exc)
                    self.sync()
                    c = ast.Bool(self.pos(branch_at), False)
                node.branches.append((c, self.block(_ENDS["IF"])))
            if self.terminator() == "ELSE":
                self.advance()
                node.orelse = self.block(_ENDS["ELSE"])
                while self.terminator() in ("ELSE", "ELSEIF"):
                    self.record(self.error("ELSE IF or ELSE after the ELSE of this IF"))
                    self.sync()
                    node.orelse.extend(self.block(_ENDS["ELSE"]))
            self.close(opener, "IF", frozenset({"END IF"}))
        return node

    def consume_elseif(self) -> None:
        if self.advance().upper == "ELSE":
            self.advance()  # the IF of ELSE IF

    def for_statement(self) -> list[ast.Stmt]:
        opener = self.advance()
        pos = self.pos(opener)
        node: ast.For | ast.ForEach
        try:
            if self.peek().is_word("EACH"):
                self.advance()
                var = self.name_token("after FOR EACH").text.lower()
                self.expect_word("IN", "after the FOR EACH variable")
                node = ast.ForEach(pos, var, self.expr(), [])
            else:
                var = self.name_token("after FOR").text.lower()
                self.expect_op("=", "after the FOR variable")
                start = self.expr()
                self.expect_word("TO", "after the FOR start value")
                stop = self.expr()
                step = None
                if self.peek().is_word("STEP"):
                    self.advance()
                    step = self.expr()
                node = ast.For(pos, var, start, stop, step, [])
            self.end_statement()
        except ParseError as exc:
            self.record(exc)
            self.sync()
            node = ast.For(pos, "", ast.Number(pos, 0), ast.Number(pos, 0), None, [])
        with self.opened("FOR"):
            node.body = self.block(_ENDS["FOR"])
            term = self.close(opener, "FOR", _ENDS["FOR"])
            if term == "NEXT" and not self.at_end():
                name = self.peek()
                if name.kind is T.WORD and node.var and name.text.lower() != node.var:
                    self.record(
                        self.error(
                            f"NEXT {name.text} does not match FOR {node.var}", f"NEXT {node.var}"
                        )
                    )
                    self.sync()
                elif name.kind is T.WORD:
                    self.advance()
        return [node]

    def do_statement(self) -> list[ast.Stmt]:
        opener = self.advance()
        node = ast.DoLoop(self.pos(opener), None, [])
        try:
            if self.peek().is_word("WHILE", "UNTIL"):
                node.until = self.advance().upper == "UNTIL"
                node.cond = self.expr()
            self.end_statement()
        except ParseError as exc:
            self.record(exc)
            self.sync()
        with self.opened("DO"):
            node.body = self.block(_ENDS["DO"])
            if self.close(opener, "DO", _ENDS["DO"]) and self.peek().is_word("WHILE", "UNTIL"):
                tail = self.advance()
                if node.cond is not None:
                    self.record(
                        self.error(
                            "a DO loop tests its condition at the top or at the bottom, not both",
                            tok=tail,
                        )
                    )
                    self.sync()
                    return [node]
                node.until = tail.upper == "UNTIL"
                node.cond = self.expr()
                node.test_first = False
        return [node]

    def while_statement(self) -> list[ast.Stmt]:
        opener = self.advance()
        node = ast.DoLoop(self.pos(opener), None, [])
        try:
            node.cond = self.expr()
            self.end_statement()
        except ParseError as exc:
            self.record(exc)
            self.sync()
        with self.opened("DO"):
            node.body = self.block(_ENDS["WHILE"])
            self.close(opener, "WHILE", _ENDS["WHILE"])
        return [node]

    def select_statement(self) -> list[ast.Stmt] | None:
        if not self.peek(1).is_word("CASE"):
            return None
        opener = self.advance()
        self.advance()
        node = ast.Select(self.pos(opener), ast.Null(self.pos(opener)), [])
        try:
            node.subject = self.expr()
            self.end_statement()
        except ParseError as exc:
            self.record(exc)
            self.sync()
        with self.opened("SELECT"):
            self.skip_separators()
            first = self.peek()
            if self.block(_ENDS["SELECT"]):
                self.record(
                    ParseError(
                        first,
                        "expected CASE: statements in a SELECT CASE must follow a CASE",
                        "CASE",
                    )
                )
            seen_else = False
            while self.terminator() == "CASE":
                case_tok = self.advance()
                if seen_else:
                    self.record(self.error("CASE after CASE ELSE", tok=case_tok))
                is_else = case_tok.upper == "DEFAULT" or self.peek().is_word("ELSE")
                values: list[Any] = []
                try:
                    if is_else:
                        if case_tok.upper == "CASE":
                            self.advance()
                    else:
                        values = self.case_values()
                    self.end_statement()
                except ParseError as exc:
                    self.record(exc)
                    self.sync()
                with self.opened("CASE"):
                    body = self.block(_ENDS["CASE"])
                if is_else:
                    seen_else = True
                    node.orelse = body
                else:
                    node.cases.append(ast.Case(self.pos(case_tok), values, body))
            self.close(opener, "SELECT CASE", frozenset({"END SELECT"}))
        return [node]

    def case_values(self) -> list[Any]:
        values: list[Any] = []
        while True:
            if self.peek().is_word("IS"):
                self.advance()
                op = self.peek()
                if not (op.kind is T.OP and op.text in _COMPARE):
                    raise self.error(
                        f"expected a comparison after CASE IS, found {op.describe()}", "= < > …"
                    )
                self.advance()
                values.append((_COMPARE[op.text], self.concat()))
            else:
                low = self.expr()
                if self.peek().is_word("TO"):
                    self.advance()
                    values.append((low, self.expr()))
                else:
                    values.append(low)
            if not self.peek().is_op(","):
                return values
            self.advance()

    def function_statement(self) -> list[ast.Stmt]:
        opener = self.advance()
        kind = opener.upper
        is_sub = kind == "SUB"
        pos = self.pos(opener)
        node = ast.FunctionDef(pos, "", [], [], is_sub)
        if self.blocks:
            self.record(
                self.error(f"a {kind} cannot be defined inside {self.blocks[-1]}", tok=opener)
            )
        try:
            node.name = self.name_token(f"after {kind}").text.lower()
            if self.peek().is_op("("):
                self.advance()
                while not self.peek().is_op(")"):
                    if self.peek().is_word("BYVAL", "BYREF", "OPTIONAL"):
                        self.advance()
                    node.params.append(self.name_token(f"for a {kind} parameter").text.lower())
                    if self.peek().is_word("AS"):
                        self.advance()
                        self.name_token("after AS")
                    if not self.peek().is_op(")"):
                        self.expect_op(",", f"between {kind} parameters")
                self.advance()
            self.end_statement()
        except ParseError as exc:
            self.record(exc)
            self.sync()
        with self.opened(kind):
            node.body = self.block(_ENDS[kind])
            self.close(opener, kind, _ENDS[kind])
        return [node]

    def call_statement(self) -> list[ast.Stmt]:
        self.advance()
        name = self.name_token("after CALL")
        args: list[ast.Expr] = []
        if self.peek().is_op("("):
            args = self.call_args()
        pos = self.pos(name)
        return [ast.ExprStmt(pos, ast.Call(pos, name.text.lower(), args))]

    def return_statement(self) -> list[ast.Stmt]:
        tok = self.advance()
        value = None if self.at_end() else self.expr()
        return [ast.Return(self.pos(tok), value)]

    def exit_statement(self) -> list[ast.Stmt]:
        tok = self.advance()
        what = "program"
        if not self.at_end():
            word = self.peek()
            kinds = {"FOR": "for", "DO": "do", "WHILE": "do", "FUNCTION": "function", "SUB": "sub"}
            if word.kind is not T.WORD or word.upper not in kinds:
                raise self.error(
                    f"expected FOR, DO, WHILE, FUNCTION or SUB after EXIT, found {word.describe()}",
                    "FOR|DO|WHILE|FUNCTION|SUB",
                )
            what = kinds[self.advance().upper]
        return [ast.Exit(self.pos(tok), what)]

    def end_statement_keyword(self) -> list[ast.Stmt]:
        tok = self.advance()
        if self.at_end():
            return [ast.Exit(self.pos(tok), "program")]
        word = self.peek()
        opener = _BLOCK_NAMES.get(word.upper)
        if opener is not None:
            raise self.error(f"END {word.text.upper()} without {opener}", tok=tok)
        raise self.error(
            f"expected the end of the statement after END, found {word.describe()}",
            "end of statement",
        )

    def let_statement(self) -> list[ast.Stmt]:
        self.advance()
        target = self.lvalue(self.postfix())
        if not self.peek().is_op(*_ASSIGN_OPS):
            raise self.error(
                f"expected '=' after the LET variable, found {self.peek().describe()}", "'='"
            )
        return self.assign_rest(target)

    def dim_statement(self) -> list[ast.Stmt]:
        self.advance()
        out: list[ast.Stmt] = []
        while True:
            name = self.name_token("after DIM")
            if self.peek().is_word("AS"):
                self.advance()
                self.name_token("after AS")
            pos = self.pos(name)
            value: ast.Expr = ast.Null(pos)
            if self.peek().is_op("="):
                self.advance()
                value = self.expr()
            out.append(ast.Assign(pos, ast.Name(pos, name.text.lower()), value))
            if not self.peek().is_op(","):
                return out
            self.advance()

    def break_statement(self) -> list[ast.Stmt]:
        tok = self.advance()
        breakable = next((b for b in reversed(self.blocks) if b in ("FOR", "DO", "CASE")), None)
        if breakable is None:
            raise self.error("BREAK outside a loop or CASE", tok=tok)
        if breakable != "CASE":
            return [ast.Exit(self.pos(tok), breakable.lower())]
        saved = self.i
        self.skip_separators()
        last = self.terminator() in ("CASE", "END SELECT")
        self.i = saved
        if not last:
            raise self.error(
                "BREAK inside a CASE must be its last statement (CASE arms do not fall through)",
                tok=tok,
            )
        return []

    # ---- metadata and blocks -------------------------------------------------------------

    def raw_rest(self, what: str) -> Token:
        tok = self.peek()
        if tok.kind is not T.RAW:
            raise self.error(f"expected {what}, found {tok.describe()}", what)
        return self.advance()

    def param_statement(self) -> list[ast.Stmt]:
        head = self.advance()
        raw = self.raw_rest("a parameter name after PARAM")
        name, rest = [*raw.text.split(maxsplit=1), ""][:2]
        if not _NAME.fullmatch(name):
            raise self.error(f"PARAM needs a name, found {name!r}", "a name", raw)
        match = _PARAM.fullmatch(rest.strip())
        if match is None:
            raise self.error(
                f"expected PARAM {name} [AS type] [LIKE example] [DESCRIPTION text], "
                f"found {raw.text!r}",
                "AS, LIKE or DESCRIPTION",
                raw,
            )
        ptype = (match.group("type") or "string").strip()
        if _NAME.fullmatch(ptype):
            ptype = ptype.lower()
        self.program.params.append(
            ast.Param(
                self.pos(head),
                name,
                ptype,
                _unquote(match.group("like")),
                _unquote(match.group("desc")),
            )
        )
        return []

    def description_statement(self) -> list[ast.Stmt]:
        self.advance()
        self.program.description = _unquote(self.raw_rest("the description text").text)
        return []

    def set_statement(self) -> list[ast.Stmt] | None:
        if not self.peek(1).is_word("SCHEDULE") or self.peek(2).kind is not T.RAW:
            return None
        self.advance()
        self.advance()
        raw = self.advance()
        cron = _unquote(raw.text) or ""
        if not 5 <= len(cron.split()) <= 6:
            raise self.error(
                f"SET SCHEDULE expects a cron expression of 5 or 6 fields, found {raw.text!r}",
                "a cron expression",
                raw,
            )
        self.program.schedules.append(cron)
        return []

    def include_statement(self) -> list[ast.Stmt]:
        head = self.advance()
        raw = self.raw_rest("a file name after INCLUDE")
        name = _unquote(raw.text) or ""
        if self.include_loader is None:
            raise self.error("INCLUDE needs an include loader (none was given)", tok=head)
        if name in self.including:
            chain = " → ".join((*self.including, name))
            raise self.error(f"INCLUDE cycle: {chain}", tok=raw)
        try:
            text = self.include_loader(name)
        except Exception as exc:  # the loader's own error, whatever it is, names the problem
            raise self.error(f"cannot include {name}: {exc}", tok=raw) from None
        child = Parser(
            text,
            name,
            include_loader=self.include_loader,
            including=(*self.including, name),
            diagnostics=self.diagnostics,
            pos_file=name,
        )
        child.blocks = list(self.blocks)
        child.depth = self.depth + 1
        included = child.parse_file()
        program = self.program
        program.sources.update(included.sources)
        program.params.extend(included.params)
        program.description = program.description or included.description
        program.schedules.extend(included.schedules)
        program.tables.extend(included.tables)
        return included.body

    def begin_statement(self) -> list[ast.Stmt] | None:
        opener = self.advance()
        end: tuple[str, ...]
        if self.peek().is_word("TALK"):
            self.advance()
            keyword, name, end = "TALK", "BEGIN TALK", ("TALK",)
        elif self.peek().is_word("SYSTEM") and self.peek(1).is_word("PROMPT"):
            self.advance()
            self.advance()
            keyword, name, end = "SYSTEM PROMPT", "BEGIN SYSTEM PROMPT", ("SYSTEM", "PROMPT")
        else:
            raise self.error(
                f"expected TALK or SYSTEM PROMPT after BEGIN, found {self.peek().describe()}",
                "TALK|SYSTEM PROMPT",
            )
        self.end_statement()
        self.skip_separators()
        lines = self.block_lines()
        pos = self.pos(opener)
        parts: list[str | ast.Expr] = []
        for index, line in enumerate(lines):
            if index:
                _add_text(parts, "\n")
            for part in self.interpolated(line.text, line).parts:
                if isinstance(part, str):
                    _add_text(parts, part)
                else:
                    parts.append(part)
        self.expect_block_end(opener, name, end)
        text = ast.String(pos, parts or [""])
        return [ast.KeywordStmt(pos, ast.KeywordCall(pos, keyword, [text]))]

    def block_lines(self) -> list[Token]:
        out = []
        while self.peek().kind is T.BLOCK:
            out.append(self.advance())
        return out

    def expect_block_end(self, opener: Token, name: str, words: tuple[str, ...]) -> None:
        if not (
            self.peek().is_word("END")
            and all(self.peek(k + 1).is_word(w) for k, w in enumerate(words))
        ):
            raise self.error(
                f"{name} at line {opener.line} has no END {' '.join(words)}",
                f"END {' '.join(words)}",
                opener,
            )
        for _ in range(len(words) + 1):
            self.advance()

    def table_statement(self) -> list[ast.Stmt] | None:
        if self.peek(1).kind is not T.WORD:
            return None
        opener = self.advance()
        name = self.name_token("after TABLE").text
        connection = None
        if self.peek().is_word("ON"):
            self.advance()
            connection = self.name_token("after ON").text
        self.end_statement()
        self.skip_separators()
        table = ast.TableDef(self.pos(opener), name, connection, [])
        for line in self.block_lines():
            try:
                field = self.table_field(line)
            except ParseError as exc:
                self.record(exc)
                continue
            if field is not None:
                table.fields.append(field)
        self.expect_block_end(opener, "TABLE", ("TABLE",))
        self.program.tables.append(table)
        return [table]

    def table_field(self, line: Token) -> ast.TableField | None:
        text = line.text
        stripped = text.strip()
        if (
            not stripped
            or stripped.startswith(("'", "\u2018", "\u2019"))
            or re.match(r"REM\b", stripped, re.IGNORECASE)
        ):
            return None
        match = _FIELD.match(text)
        col = len(text) - len(text.lstrip()) + 1
        field_tok = Token(T.WORD, stripped, line.line, col)
        if match is None:
            raise ParseError(
                field_tok,
                "expected a field: name type [(size)] [*] [KEY] [UNIQUE] [AUTO]",
                "a field",
            )
        size: int | None = None
        if match.group("size") is not None:
            raw_size = match.group("size")
            if raw_size.lower() == "max":
                size = 4000
            elif raw_size.isdigit():
                size = int(raw_size)
            else:
                raise ParseError(
                    field_tok, f"bad field size {raw_size!r}: a number or MAX", "a number"
                )
        flags = match.group("rest").replace("*", " * ").split()
        unknown = [f for f in flags if f.upper() not in ("*", "KEY", "UNIQUE", "AUTO")]
        if unknown:
            raise ParseError(
                field_tok, f"unknown field option {unknown[0]!r}", "*, KEY, UNIQUE or AUTO"
            )
        upper = {f.upper() for f in flags}
        key = "KEY" in upper
        ftype = match.group("type")
        known = ftype.lower() in _TABLE_TYPES
        return ast.TableField(
            pos=self.pos(field_tok),
            name=match.group("name"),
            type=ftype.lower() if known else "reference",
            size=size,
            required=key or bool(match.group("star")) or "*" in upper,
            key=key,
            unique=key or "UNIQUE" in upper,
            auto=key or "AUTO" in upper,
            references=None if known else ftype,
        )

    # ---- expressions ---------------------------------------------------------------------

    def expr(self) -> ast.Expr:
        with self.deeper():
            return self.or_expr()

    def at_stop(self) -> bool:
        return any(
            stop and all(self.peek(k).is_word(w) for k, w in enumerate(stop)) for stop in self.stops
        )

    def _binary(
        self,
        words: tuple[str, ...],
        ops: tuple[str, ...],
        name: str,
        operand: Callable[[], ast.Expr],
    ) -> ast.Expr:
        left = operand()
        while (self.peek().is_word(*words) or self.peek().is_op(*ops)) and not self.at_stop():
            self.advance()
            left = ast.Binary(left.pos, name, left, operand())
        return left

    def or_expr(self) -> ast.Expr:
        return self._binary(("OR",), ("||",), "or", self.and_expr)

    def and_expr(self) -> ast.Expr:
        return self._binary(("AND",), ("&&",), "and", self.not_expr)

    def not_expr(self) -> ast.Expr:
        if self.peek().is_word("NOT"):
            tok = self.advance()
            with self.deeper():
                return ast.Unary(self.pos(tok), "not", self.not_expr())
        return self.compare()

    def compare(self) -> ast.Expr:
        left = self.concat()
        while self.peek().kind is T.OP and self.peek().text in _COMPARE:
            op = _COMPARE[self.advance().text]
            left = ast.Binary(left.pos, op, left, self.concat())
        return left

    def concat(self) -> ast.Expr:
        return self._binary((), ("&",), "&", self.additive)

    def additive(self) -> ast.Expr:
        left = self.term()
        while self.peek().is_op("+", "-"):
            op = self.advance().text
            left = ast.Binary(left.pos, op, left, self.term())
        return left

    def term(self) -> ast.Expr:
        left = self.unary()
        while self.peek().is_op("*", "/", "\\", "%") or self.peek().is_word("MOD"):
            tok = self.advance()
            op = "mod" if tok.text in ("%",) or tok.upper == "MOD" else tok.text
            left = ast.Binary(left.pos, op, left, self.unary())
        return left

    def unary(self) -> ast.Expr:
        tok = self.peek()
        if tok.is_op("-", "+", "!") or tok.is_word("NOT"):
            self.advance()
            op = tok.text if tok.is_op("-", "+") else "not"
            with self.deeper():
                return ast.Unary(self.pos(tok), op, self.unary())
        return self.power()

    def power(self) -> ast.Expr:
        left = self.postfix()
        while self.peek().is_op("^"):
            self.advance()
            left = ast.Binary(left.pos, "^", left, self.power_operand())
        return left

    def power_operand(self) -> ast.Expr:
        tok = self.peek()
        if tok.is_op("-", "+"):
            self.advance()
            with self.deeper():
                return ast.Unary(self.pos(tok), tok.text, self.power_operand())
        return self.postfix()

    def postfix(self) -> ast.Expr:
        expr = self.primary()
        while True:
            tok = self.peek()
            if tok.is_op("."):
                self.advance()
                field = self.peek()
                if field.kind is not T.WORD:
                    raise self.error(
                        f"expected a member name after '.', found {field.describe()}",
                        "a member name",
                    )
                self.advance()
                expr = ast.Member(expr.pos, expr, field.text)
            elif tok.is_op("["):
                self.advance()
                index = self.expr()
                self.expect_op("]", "to close the index")
                expr = ast.Index(expr.pos, expr, index)
            elif tok.is_op("("):
                args = self.call_args()
                if isinstance(expr, ast.Name):
                    expr = ast.Call(expr.pos, expr.ident, args)
                elif len(args) == 1:
                    expr = ast.Index(expr.pos, expr, args[0])
                else:
                    raise self.error(
                        f"{_describe(expr)} cannot be called: only a FUNCTION, SUB or built-in "
                        "function can (methods are not supported)",
                        tok=tok,
                    )
            else:
                return expr

    def call_args(self) -> list[ast.Expr]:
        self.expect_op("(", "")
        saved_limit, self.limit = self.limit, None
        saved_stops, self.stops = self.stops, []
        saved_inline, self.inline = self.inline, 0
        try:
            args: list[ast.Expr] = []
            while not self.peek().is_op(")"):
                args.append(self.expr())
                if not self.peek().is_op(")"):
                    self.expect_op(",", "between arguments")
            self.advance()
            return args
        finally:
            self.limit, self.stops, self.inline = saved_limit, saved_stops, saved_inline

    def expr_list(self) -> list[ast.Expr]:
        items = [self.expr()]
        while self.peek().is_op(",", ";") and not (self.limit is not None and self.i >= self.limit):
            self.advance()
            items.append(self.expr())
        return items

    def primary(self) -> ast.Expr:
        tok = self.peek()
        pos = self.pos(tok)
        kind = tok.kind
        if kind is T.NUMBER:
            self.advance()
            return ast.Number(pos, float(tok.value))  # type: ignore[arg-type]
        if kind is T.STRING:
            self.advance()
            return self.string_parts(list(tok.value), tok)  # type: ignore[call-overload]
        if kind is T.WORD:
            return self.word_primary(tok, pos)
        if tok.is_op("("):
            self.advance()
            saved = (self.limit, self.stops, self.inline)
            self.limit, self.stops, self.inline = None, [], 0
            try:
                inner = self.expr()
                self.expect_op(")", "to close the parenthesis")
            finally:
                self.limit, self.stops, self.inline = saved
            return inner
        if tok.is_op("["):
            return self.list_literal(tok)
        if tok.is_op("{"):
            return self.map_literal(tok)
        if kind is T.BAD:
            raise self.error(str(tok.value))
        raise self.error(f"expected an expression, found {tok.describe()}", "an expression")

    def word_primary(self, tok: Token, pos: ast.Pos) -> ast.Expr:
        word = tok.upper
        if word in ("TRUE", "FALSE"):
            self.advance()
            return ast.Bool(pos, word == "TRUE")
        if word in ("NULL", "NOTHING"):
            self.advance()
            return ast.Null(pos)
        if word == "NEW" and self.peek(1).is_word("OBJECT", "ARRAY"):
            self.advance()
            what = self.advance().upper
            return ast.MapLit(pos, []) if what == "OBJECT" else ast.ListLit(pos, [])
        for form in PHRASES:
            if all(self.peek(k).is_word(w) for k, w in enumerate(form.words)):
                for _ in form.words:
                    self.advance()
                return ast.KeywordCall(pos, form.keyword, [])
        if word in RESERVED:
            raise self.error(f"expected an expression, found {tok.describe()}", "an expression")
        self.advance()
        return ast.Name(pos, tok.text.lower())

    def list_literal(self, tok: Token) -> ast.ListLit:
        self.advance()
        items: list[ast.Expr] = []
        saved = (self.limit, self.stops, self.inline)
        self.limit, self.stops, self.inline = None, [], 0
        try:
            while not self.peek().is_op("]"):
                items.append(self.expr())
                if not self.peek().is_op("]"):
                    self.expect_op(",", "between list items")
            self.advance()
        finally:
            self.limit, self.stops, self.inline = saved
        return ast.ListLit(self.pos(tok), items)

    def map_literal(self, tok: Token) -> ast.MapLit:
        self.advance()
        items: list[tuple[str, ast.Expr]] = []
        saved = (self.limit, self.stops, self.inline)
        self.limit, self.stops, self.inline = None, [], 0
        try:
            while not self.peek().is_op("}"):
                key = self.peek()
                if key.kind is T.WORD:
                    name = key.text
                elif key.kind is T.STRING and all(isinstance(p, str) for p in key.value):  # type: ignore[attr-defined]
                    name = "".join(key.value)  # type: ignore[arg-type]
                elif key.kind is T.NUMBER:
                    name = _js_number(float(key.value))  # type: ignore[arg-type]
                else:
                    raise self.error(f"expected a key, found {key.describe()}", "a key")
                self.advance()
                self.expect_op(":", "after the key")
                items.append((name, self.expr()))
                if not self.peek().is_op("}"):
                    self.expect_op(",", "between entries")
            self.advance()
        finally:
            self.limit, self.stops, self.inline = saved
        return ast.MapLit(self.pos(tok), items)

    def string_parts(self, parts: list[str | Interp], tok: Token) -> ast.String:
        """A String node; each ``${}`` is parsed as an expression."""
        out: list[str | ast.Expr] = []
        for part in parts:
            if isinstance(part, str):
                if part:
                    out.append(part)
                continue
            if not part.source.strip():
                raise ParseError(
                    Token(T.BAD, "", part.line, part.col - 2),
                    "empty ${} in a string",
                    "an expression",
                )
            sub = Parser(
                part.source,
                self.file,
                pos_file=self.pos_file,
                tokens=Lexer(part.source, line=part.line, col=part.col, expression=True).tokens(),
            )
            sub.depth = self.depth
            value = sub.expr()
            if sub.peek().kind not in (T.NEWLINE, T.EOF):
                raise sub.error(
                    f"expected '}}' to end the interpolation, found {sub.peek().describe()}", "'}'"
                )
            out.append(value)
        return ast.String(self.pos(tok), out or [""])


def _leading_words(elements: tuple[Element, ...]) -> list[Word]:
    out = []
    for element in elements:
        if not isinstance(element, Word):
            break
        out.append(element)
    return out


def _describe(expr: ast.Expr) -> str:
    names = {
        ast.Number: "a number", ast.String: "a string", ast.Bool: "a boolean",
        ast.Null: "NULL", ast.Call: "a call", ast.Binary: "an expression",
        ast.Unary: "an expression", ast.ListLit: "a list", ast.MapLit: "an object",
        ast.KeywordCall: "a keyword", ast.Member: "a member", ast.Index: "an element",
        ast.Name: "a name",
    }  # fmt: skip
    return names[type(expr)]


def _unquote(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    match = _QUOTED.match(text)
    return match.group(2) if match else text


def _add_text(parts: list[str | ast.Expr], text: str) -> None:
    if parts and isinstance(parts[-1], str):
        parts[-1] += text
    else:
        parts.append(text)


def _js_number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _index_variables(program: ast.Program) -> None:
    """``a(i)`` where ``a`` is a variable (assigned somewhere, neither a FUNCTION/SUB nor a
    built-in function: ``hour = 9`` does not make ``HOUR(now)`` an element) indexes it."""
    from ..builtins import BUILTINS  # noqa: PLC0415 (built-ins import the runtime; load late)

    functions = {name.lower() for name in BUILTINS}
    variables: set[str] = set()
    for node in walk(program):
        if isinstance(node, ast.FunctionDef):
            functions.add(node.name)
            variables.update(node.params)
        elif isinstance(node, ast.Assign | ast.KeywordStmt) and isinstance(node.target, ast.Name):
            variables.add(node.target.ident)
        elif isinstance(node, ast.For | ast.ForEach):
            variables.add(node.var)

    def fix(node: Any) -> Any:
        if (
            isinstance(node, ast.Call)
            and len(node.args) == 1
            and node.name in variables
            and node.name not in functions
        ):
            return ast.Index(node.pos, ast.Name(node.pos, node.name), node.args[0])
        return node

    for stmt in program.body:
        rewrite(stmt, fix)


_STATEMENTS: dict[str, Callable[[Parser], list[ast.Stmt] | None]] = {
    "IF": Parser.if_statement,
    "FOR": Parser.for_statement,
    "DO": Parser.do_statement,
    "WHILE": Parser.while_statement,
    "SELECT": Parser.select_statement,
    "FUNCTION": Parser.function_statement,
    "SUB": Parser.function_statement,
    "CALL": Parser.call_statement,
    "RETURN": Parser.return_statement,
    "EXIT": Parser.exit_statement,
    "END": Parser.end_statement_keyword,
    "LET": Parser.let_statement,
    "DIM": Parser.dim_statement,
    "BREAK": Parser.break_statement,
    "PARAM": Parser.param_statement,
    "DESCRIPTION": Parser.description_statement,
    "INCLUDE": Parser.include_statement,
    "SET": Parser.set_statement,
    "BEGIN": Parser.begin_statement,
    "TABLE": Parser.table_statement,
}
#: Statements that open a block (not allowed after THEN on the same line).
_BLOCK_STATEMENTS = frozenset({"FOR", "DO", "WHILE", "FUNCTION", "SUB", "BEGIN", "TABLE"})


def parse(
    text: str, file: str = "<dialog>", include_loader: IncludeLoader | None = None
) -> ast.Program:
    """Parse a whole dialog; raises CompileError listing every syntax error."""
    return Parser(text, file, include_loader=include_loader).parse()
