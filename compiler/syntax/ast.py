"""The syntax tree of a BASIC dialog: what the parser produces and the code generator consumes.

Every node carries the position of its first token (1-based line and column). Keyword
statements of the dialect (``TALK``, ``HEAR x AS EMAIL``, ``SEND MAIL a, b, c``, ``MERGE t WITH d
BY k`` ...) are all normalised by the parser into one node, :class:`KeywordCall`, naming the
registry entry they call and its positional arguments; the surface syntax of each keyword
lives in ``compiler.keywords`` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Pos:
    """A source position: 1-based line and column of the first character.

    ``file`` names the INCLUDEd file a node comes from (None: the program's own file).
    """

    line: int
    col: int
    file: str | None = None


# ---- expressions -------------------------------------------------------------------------------


@dataclass(slots=True)
class Number:
    """A numeric literal (every BASIC number is a double, as in the original's JavaScript)."""

    pos: Pos
    value: float


@dataclass(slots=True)
class String:
    """A string literal; ``parts`` alternate text and ``${expr}`` interpolations."""

    pos: Pos
    parts: list[str | Expr]


@dataclass(slots=True)
class Bool:
    """``TRUE`` / ``FALSE``."""

    pos: Pos
    value: bool


@dataclass(slots=True)
class Null:
    """``NULL`` / ``NOTHING`` (JavaScript ``null``)."""

    pos: Pos


@dataclass(slots=True)
class Name:
    """A variable reference (names are case-insensitive; ``ident`` is lower-cased)."""

    pos: Pos
    ident: str


@dataclass(slots=True)
class Member:
    """``obj.field`` (field names keep their case: map keys are case-sensitive)."""

    pos: Pos
    obj: Expr
    field: str


@dataclass(slots=True)
class Index:
    """``obj[index]`` or ``obj(index)`` on a list/map value."""

    pos: Pos
    obj: Expr
    index: Expr


@dataclass(slots=True)
class Call:
    """``f(a, b)``: a user FUNCTION or a built-in function (``LEN``, ``MID``, ``UBOUND`` ...)."""

    pos: Pos
    name: str
    args: list[Expr]


@dataclass(slots=True)
class Unary:
    """``-x``, ``+x``, ``NOT x``; ``op`` is ``"-"``, ``"+"`` or ``"not"``."""

    pos: Pos
    op: str
    operand: Expr


@dataclass(slots=True)
class Binary:
    """``a op b``.

    ``op`` is one of ``+ - * / \\ mod ^ & = <> < <= > >= and or`` (``\\`` integer division,
    ``&`` string concatenation; ``=`` in an expression is always a comparison).
    """

    pos: Pos
    op: str
    left: Expr
    right: Expr


@dataclass(slots=True)
class ListLit:
    """``[a, b]`` or ``NEW ARRAY`` (empty)."""

    pos: Pos
    items: list[Expr]


@dataclass(slots=True)
class MapLit:
    """``NEW OBJECT`` (empty) or ``{a: 1}``; keys are strings."""

    pos: Pos
    items: list[tuple[str, Expr]]


@dataclass(slots=True)
class KeywordCall:
    """A call into the keyword registry: ``keyword`` is the registry name (``"SEND MAIL"``).

    ``args`` are positional in the order of the registry signature; the parser fills the
    arguments a form implies (``HEAR x AS EMAIL`` → ``HEAR("email")``).
    """

    pos: Pos
    keyword: str
    args: list[Expr]


Expr = (
    Number
    | String
    | Bool
    | Null
    | Name
    | Member
    | Index
    | Call
    | Unary
    | Binary
    | ListLit
    | MapLit
    | KeywordCall
)
LValue = Name | Member | Index


# ---- statements --------------------------------------------------------------------------------


@dataclass(slots=True)
class Assign:
    """``target = value`` (also ``LET target = value``)."""

    pos: Pos
    target: LValue
    value: Expr


@dataclass(slots=True)
class KeywordStmt:
    """A keyword statement; ``target`` receives its result (``x = FIND ...``, ``HEAR x``)."""

    pos: Pos
    call: KeywordCall
    target: LValue | None = None


@dataclass(slots=True)
class ExprStmt:
    """A call used as a statement: ``CALL f(x)`` or ``f(x)``."""

    pos: Pos
    expr: Expr


@dataclass(slots=True)
class If:
    """``IF c THEN … ELSE IF c2 THEN … ELSE … END IF`` and the one-line forms."""

    pos: Pos
    branches: list[tuple[Expr, list[Stmt]]]
    orelse: list[Stmt] = field(default_factory=list)


@dataclass(slots=True)
class For:
    """``FOR var = start TO stop [STEP step] … NEXT [var]``."""

    pos: Pos
    var: str
    start: Expr
    stop: Expr
    step: Expr | None
    body: list[Stmt]


@dataclass(slots=True)
class ForEach:
    """``FOR EACH var IN iterable … NEXT [var]``."""

    pos: Pos
    var: str
    iterable: Expr
    body: list[Stmt]


@dataclass(slots=True)
class DoLoop:
    """``DO WHILE c … LOOP``, ``DO UNTIL c … LOOP``, ``DO … LOOP WHILE|UNTIL c``, ``WHILE … WEND``.

    ``until`` negates the condition; ``test_first`` is False for the ``LOOP WHILE`` form;
    ``cond`` is None for a bare ``DO … LOOP`` (left with ``EXIT DO``).
    """

    pos: Pos
    cond: Expr | None
    body: list[Stmt]
    until: bool = False
    test_first: bool = True


@dataclass(slots=True)
class Case:
    """One ``CASE`` arm: each value is an expression, a ``(low, high)`` range (``1 TO 5``) or a
    comparison ``("<", expr)`` from ``CASE IS < 5``."""

    pos: Pos
    values: list[Expr | tuple[Expr, Expr] | tuple[str, Expr]]
    body: list[Stmt]


@dataclass(slots=True)
class Select:
    """``SELECT CASE subject … CASE … CASE ELSE … END SELECT``."""

    pos: Pos
    subject: Expr
    cases: list[Case]
    orelse: list[Stmt] = field(default_factory=list)


@dataclass(slots=True)
class FunctionDef:
    """``FUNCTION name(a, b) … END FUNCTION`` or ``SUB name(a) … END SUB`` (``is_sub``).

    A function returns with ``RETURN expr`` or by assigning to its own name.
    """

    pos: Pos
    name: str
    params: list[str]
    body: list[Stmt]
    is_sub: bool = False


@dataclass(slots=True)
class Return:
    """``RETURN [expr]``: inside a FUNCTION its result; at top level it ends the dialog with
    that result (the original resolves the script's promise with it)."""

    pos: Pos
    value: Expr | None


@dataclass(slots=True)
class Exit:
    """``EXIT FOR|DO|FUNCTION|SUB`` (``what``) or ``EXIT`` / ``END`` (``what == "program"``)."""

    pos: Pos
    what: str


@dataclass(slots=True)
class TableField:
    """One field line of a ``TABLE`` block: ``Name string(100) *``."""

    pos: Pos
    name: str
    type: str
    size: int | None
    required: bool
    key: bool
    unique: bool
    auto: bool
    references: str | None


@dataclass(slots=True)
class TableDef:
    """``TABLE name [ON connection] … END TABLE`` — declares a table; no code is run."""

    pos: Pos
    name: str
    connection: str | None
    fields: list[TableField]


Stmt = (
    Assign
    | KeywordStmt
    | ExprStmt
    | If
    | For
    | ForEach
    | DoLoop
    | Select
    | FunctionDef
    | Return
    | Exit
    | TableDef
)


@dataclass(slots=True)
class Param:
    """``PARAM name AS type LIKE example DESCRIPTION text`` (tool metadata; not code)."""

    pos: Pos
    name: str
    type: str
    example: str | None
    description: str | None


@dataclass(slots=True)
class Program:
    """A whole dialog: its statements and the metadata the original keeps beside the code."""

    file: str
    body: list[Stmt]
    params: list[Param] = field(default_factory=list)
    description: str | None = None
    schedules: list[str] = field(default_factory=list)
    tables: list[TableDef] = field(default_factory=list)
    #: The text of every source file by name (the program's own and each INCLUDEd one), so
    #: diagnostics and runtime errors can show the offending line.
    sources: dict[str, str] = field(default_factory=dict)
