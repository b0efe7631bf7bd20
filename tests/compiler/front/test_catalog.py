"""The keyword catalog: every form parses to its registry call; the signatures match."""

from __future__ import annotations

import pytest

from gb.compiler.host.registry import ParamSpec
from gb.compiler.host.values import Kind
from gb.compiler.keywords import FORMS, KEYWORD_NAMES, SIGNATURES, standard_registry
from gb.compiler.keywords.catalog import BY_FIRST_WORD, KEYWORD_WORDS, PHRASES, SUFFIX_FORMS
from gb.compiler.keywords.forms import Form, Optional, Punct, Slot, Word, compile_pattern, render
from gb.compiler.keywords.signatures import description, parse_signature
from tests.compiler.front.render import body, errors

EXPECTED: dict[str, list[object]] = {
    "HEAR x AS EMAIL": ['x = <HEAR>("email")'],
    "HEAR x AS INTEGER": ['x = <HEAR>("integer")'],
    "HEAR x AS NUMBER": ['x = <HEAR>("integer")'],
    "HEAR x AS BOOLEAN": ['x = <HEAR>("boolean")'],
    "HEAR x AS NAME": ['x = <HEAR>("name")'],
    "HEAR x AS DATE": ['x = <HEAR>("date")'],
    "HEAR x AS HOUR": ['x = <HEAR>("hour")'],
    "HEAR x AS MONEY": ['x = <HEAR>("money")'],
    "HEAR x AS ZIPCODE": ['x = <HEAR>("zipcode")'],
    "HEAR x AS QRCODE": ['x = <HEAR>("qrcode")'],
    "HEAR x AS FILE": ['x = <HEAR>("file")'],
    "HEAR x AS LANGUAGE": ['x = <HEAR>("language")'],
    "HEAR x AS LOGIN": ['x = <HEAR>("login")'],
    "HEAR x AS PHONE": ['x = <HEAR>("phone")'],
    "HEAR x AS MOBILE": ['x = <HEAR>("mobile")'],
    "HEAR x AS products.xlsx": ['x = <HEAR>("sheet", "products.xlsx")'],
    'HEAR x AS "Yes", "No"': ['x = <HEAR>("menu", ["Yes", "No"])'],
    "HEAR name": ["name = <HEAR>()"],
    'TALK TO "5521999", "Hi"': ['<TALK TO>("5521999", "Hi")'],
    'TALK "Hello, ${name}"': ['<TALK>("Hello, ${name}")'],
    "PRINT #1, a, b": ["<PRINT FILE>(1, [a, b])"],
    'PRINT "Total: " + total': ['<TALK>(("Total: " + total))'],
    "WRITE #1, a, b": ["<PRINT FILE>(1, [a, b])"],
    "WRITE total": ["<TALK>(total)"],
    'INPUT "Your name?", name': ['<TALK>("Your name?")', "name = <HEAR>()"],
    "INPUT name": ["name = <HEAR>()"],
    "SET HEAR ON agent": ["<SET HEAR ON>(agent)"],
    "SHOW MENU": ["<SHOW MENU>()"],
    'TRANSFER TO "support"': ['<TRANSFER>("support")'],
    "TRANSFER": ["<TRANSFER>()"],
    'SET LANGUAGE "pt"': ['<SET LANGUAGE>("pt")'],
    "SET TRANSLATOR OFF": ['<SET TRANSLATOR>("off")'],
    "SET THEME dark": ['<SET THEME>("dark")'],
    "SET WHOLE WORD ON": ['<SET WHOLE WORD>("on")'],
    "SET MAX LINES 5000": ["<SET MAX LINES>(5000)"],
    "SET MAX COLUMNS 100": ["<SET MAX COLUMNS>(100)"],
    "SET OUTPUT ARRAY": ['<SET OUTPUT>("ARRAY")'],
    'SET FILTER "age > 18"': ['<SET FILTER>("age > 18")'],
    'SET PAGE MODE "auto"': ['<SET PAGE MODE>("auto")'],
    "SET PARAM color AS answer": ['<SET PARAM>("color", answer)'],
    'x = GET CONFIG "Bot Admin Number"': ['x = <GET CONFIG>("Bot Admin Number")'],
    "t = CONTINUATION TOKEN": ["t = <CONTINUATION TOKEN>()"],
    'ALLOW ROLE "Admin"': ['<ALLOW ROLE>("Admin")'],
    'SEND EMAIL to, "Hi", body': ['<SEND MAIL>(to, "Hi", body)'],
    'SEND MAIL to, "Hi", body': ['<SEND MAIL>(to, "Hi", body)'],
    'SEND SMS TO mobile, "Hi"': ['<SEND SMS TO>(mobile, "Hi")'],
    'SEND FILE TO mobile, "a.pdf", "Your file"': ['<SEND FILE TO>(mobile, "a.pdf", "Your file")'],
    'SEND FILE img, "Chart"': ['<SEND FILE>(img, "Chart")'],
    'SEND TEMPLATE TO mobile, "news.docx"': ['<SEND TEMPLATE TO>(mobile, "news.docx")'],
    "WAIT 5": ["<WAIT>(5)"],
    "LOG order": ["<LOG>(order)"],
    "DEBUG order": ["<LOG>(order)"],
    'ADD NOTE "Called back"': ['<ADD NOTE>("Called back")'],
    'u = USER OF "alias"': ['u = <USER OF>("alias")'],
    's = FORMAT today, "dd/MM/yyyy"': ['s = <FORMAT>(today, "dd/MM/yyyy")'],
    'd = DATEADD today, "day", 3': ['d = <DATEADD>(today, "day", 3)'],
    'n = DATEDIFF a, b, "day"': ['n = <DATEDIFF>(a, b, "day")'],
    'c = CARD "card.docx", data': ['c = <CARD>("card.docx", data)'],
    'd = CREATE DEAL "Deal", contact, "ACME", 1000': [
        'd = <CREATE DEAL>("Deal", contact, "ACME", 1000)'
    ],
    "t = ACTIVE TASKS": ["t = <ACTIVE TASKS>()"],
    'c = FIND CONTACT "Ana"': ['c = <FIND CONTACT>("Ana")'],
    'GO TO "survey"': ['<GO TO>("survey")'],
    'x = FIND "t.xlsx", "id=1" OR TALK "none"': [
        'x = <FIND>("t.xlsx", "id=1")',
        ("IF", "(not x)", ['<TALK>("none")', "RETURN -1"]),
    ],
    'rows = FIND "customers.xlsx", "city=Rio"': ['rows = <FIND>("customers.xlsx", "city=Rio")'],
    "r = SELECT name FROM rows WHERE age > 18": [
        'r = <SELECT>(rows, "SELECT name FROM ? WHERE age > 18")'
    ],
    'SAVE doc AS "reports/a.pdf"': ['<SAVE AS>(doc, "reports/a.pdf")'],
    'SAVE "log.xlsx", name, email': ['<SAVE>("log.xlsx", [name, email], ["name", "email"])'],
    'DELETE "Orders", "id=3"': ['<DELETE>("Orders", "id=3")'],
    "MERGE IMAGE a, b": ["<MERGE IMAGE>([a, b])"],
    'MERGE "Customers" WITH list BY "Id"': ['<MERGE>("Customers", list, "Id")'],
    "RESET REPORT": ["<RESET REPORT>()"],
    'SYNCHRONIZE "/api/items", "Items", "id", "page", "limit"': [
        '<SYNCHRONIZE>("/api/items", "Items", "id", "page", "limit")'
    ],
    'SET HEADER "X-Id" AS id': ['<SET HEADER>("X-Id", id)'],
    'SET HTTP USERNAME = "u"': ['<SET HTTP USERNAME>("u")'],
    'SET HTTP PASSWORD = "p"': ['<SET HTTP PASSWORD>("p")'],
    "SET x = NEW OBJECT": ["x = {}"],
    'SET "data.xlsx", "A2", 10': ['<SET>("data.xlsx", "A2", 10)'],
    'GET STOCK FOR "MSFT"': ['stock = <GET STOCK FOR>("MSFT")'],
    'i = GET IMAGE "a cat"': ['i = <GET IMAGE>("a cat")'],
    'r = GET "https://example.com/api"': ['r = <GET>("https://example.com/api")'],
    'e = GET "#frame", "#field"': ['e = <GET ELEMENT>("#frame", "#field")'],
    'e = GET page, "#frame", "#f"': ['e = <GET ELEMENT>("#frame", "#f")'],
    "r = POST url, data": ["r = <POST>(url, data)"],
    "r = PUT url, data": ["r = <PUT>(url, data)"],
    'files = DIR "default.gbdrive"': ['files = <DIR>("default.gbdrive")'],
    "blob = UPLOAD item": ["blob = <UPLOAD>(item)"],
    'COPY "a.docx", "b.docx"': ['<COPY>("a.docx", "b.docx")'],
    'CONVERT "a.docx", "a.pdf"': ['<CONVERT>("a.docx", "a.pdf")'],
    'f = CREATE FOLDER "reports"': ['f = <CREATE FOLDER>("reports")'],
    'SHARE FOLDER f, "ana@example.com", "For you"': [
        '<SHARE FOLDER>(f, "ana@example.com", "For you")'
    ],
    'doc = FILL "template.docx" WITH data': ['doc = <FILL>("template.docx", data)'],
    "img = rows AS IMAGE": ["img = <AS IMAGE>(rows)"],
    "pdf = rows AS PDF": ["pdf = <AS PDF>(rows)"],
    "s = SORT rows BY name": ['s = <SORT>(rows, "name")'],
    "all = APPEND a, b": ["all = <APPEND>(a, b)"],
    "f = AUTO SAVE upload": ["f = <AUTO SAVE>(upload)"],
    'REFRESH "llm"': ['<REFRESH>("llm")'],
    'OPEN "data.txt" FOR OUTPUT AS #1': ['<OPEN FILE>("data.txt", 1, "output")'],
    'OPEN "https://site" AS #web': ['<OPEN>("https://site", null, null, "AS", "web")'],
    "CLOSE #1": ["<CLOSE>(1)"],
    'q = PAY "1", "Ana", 10': ['q = <PAY>("1", "Ana", 10)'],
    'c = CHART PROMPT "bar", data, "sales by month"': [
        'c = <CHART PROMPT>("bar", data, "sales by month")'
    ],
    'c = CHART "bar", data, "a;b"': ['c = <CHART>("bar", data, "a;b")'],
    'CLICK LINK TEXT "More", 1': ['<CLICK LINK TEXT>("More", 1)'],
    'CLICK BUTTON "OK"': ['<CLICK BUTTON>("OK")'],
    'CLICK "#submit"': ['<CLICK>("#submit")'],
    'HOVER "#menu"': ['<HOVER>("#menu")'],
    "PRESS ENTER": ["<PRESS>(enter)"],
    't = TEXT OF "#price"': ['t = <TEXT OF>("#price")'],
    'f = SCREENSHOT "#chart"': ['f = <SCREENSHOT>("#chart")'],
    'f = DOWNLOAD "#link", "files"': ['f = <DOWNLOAD>("#link", "files")'],
    "SET CONTEXT text": ["<SET CONTEXT>(text)"],
    'SET ANSWER MODE "document"': ['<SET ANSWER MODE>("document")'],
    "a = ANSWER question": ["a = <ANSWER>(question)"],
    'caption = REWRITE "a post about products"': ['caption = <REWRITE>("a post about products")'],
    "SHOW IMAGE img": ["<SHOW IMAGE>(img)"],
    "SEE CAPTION OF url AS caption": ["caption = <SEE CAPTION>(url)"],
    "SEE TEXT OF url AS text": ["text = <SEE TEXT>(url)"],
    "f = BLUR img": ["f = <BLUR>(img)"],
    "f = SHARPEN img": ["f = <SHARPEN>(img)"],
    'TWEET "Hello"': ['<TWEET>("Hello")'],
    "POST TO INSTAGRAM user, pass, image, caption": [
        "<POST TO INSTAGRAM>(user, pass, image, caption)"
    ],
    'CREATE A BOT FARM USING "farm.xlsx"': ['<CREATE A BOT FARM USING>("farm.xlsx")'],
}


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.pattern)
def test_every_form_parses_to_its_registry_call(form: Form) -> None:
    assert body(form.example) == EXPECTED[form.example]


def test_every_form_is_covered_and_examples_are_unique() -> None:
    assert set(EXPECTED) == {f.example for f in FORMS}
    assert len(EXPECTED) == len(FORMS)


def test_keywords_are_case_insensitive_whole_words() -> None:
    assert body('send mail a, "b", c\nSend  Mail a, "b", c') == ['<SEND MAIL>(a, "b", c)'] * 2
    # DESIGN.md: a variable whose name starts with a keyword is not that keyword
    assert body("settings = 1\ntalked = 2\nopened = 3\nsave_it = 4") == [
        "settings = 1", "talked = 2", "opened = 3", "save_it = 4",
    ]  # fmt: skip
    assert body("set = 1\nfind = 2\ntext = find + 1") == [
        "set = 1",
        "find = 2",
        "text = (find + 1)",
    ]


def test_parenthesised_arguments() -> None:
    assert body('TALK("hi")\nx = FIND("a.xlsx", "id=1")\nSEND MAIL(a, b, c)') == [
        '<TALK>("hi")', 'x = <FIND>("a.xlsx", "id=1")', "<SEND MAIL>(a, b, c)",
    ]  # fmt: skip
    # a parenthesised first argument that does not end the statement is just an expression
    assert body("TALK (a) + b\nWAIT (1 + 2) * 3") == ["<TALK>((a + b))", "<WAIT>(((1 + 2) * 3))"]
    assert errors("SEND MAIL(a, b)") == ["1:15: expected ',', found ')'"]
    assert body("x = FORMAT(a, [b, (c)])") == ["x = <FORMAT>(a, [b, c])"]


def test_expression_forms_versus_variables() -> None:
    assert body("answer = 1\ny = answer\nz = answer + 1\nw = answer.x\nv = ANSWER q") == [
        "answer = 1", "y = answer", "z = (answer + 1)", "w = answer.x", "v = <ANSWER>(q)",
    ]  # fmt: skip
    # a multi-word phrase needs no argument to be a keyword
    assert body("t = ACTIVE TASKS") == ["t = <ACTIVE TASKS>()"]
    # forms naming their own target cannot follow '='
    assert errors("x = HEAR y") == [
        "1:5: HEAR cannot be used after '=': it names its own variable",
    ]


def test_statement_forms_report_the_best_error() -> None:
    assert errors("SEND MAIL a, b") == ["1:15: expected ',', found the end of the line"]
    assert errors("SEND MAIL a, b, c, d") == [
        "1:18: expected the end of the statement, found ',' (usage: SEND MAIL to, subject, body)"
    ]
    assert errors('x = FIND "a",') == ["1:14: expected an expression, found the end of the line"]
    assert errors('MERGE "t" WITH d') == ["1:17: expected BY here, found the end of the line"]
    assert errors("SEND FILE x,") == ["1:13: expected caption here, found the end of the line"]
    assert errors("HEAR") == ["1:5: expected var here, found the end of the line"]
    assert errors("HEAR 5") == ["1:6: cannot assign to a number"]
    assert errors("SET OUTPUT") == ["1:11: expected value here, found the end of the line"]
    assert errors("OPEN x AS #") == [
        "1:12: expected a file number or session name after '#', found the end of the line"
    ]
    assert errors("OPEN x WITH web") == ["1:13: expected '#', found 'web'"]
    assert errors("OPEN x FOR OUTPUT AS #1 extra") == [
        "1:25: expected the end of the statement, found 'extra' (usage: OPEN file [FOR mode] "
        "AS #number)"
    ]
    assert errors("x = SELECT name") == [
        "1:12: SELECT needs FROM and the variable holding the rows"
    ]
    assert errors("SELECT name FROM t") == ["1:8: expected sql here, found 'name'"]
    assert errors('FIND "a" OR TALK "none"') == [
        "1:1: FIND … OR TALK needs a variable for the result: x = FIND … OR TALK …"
    ]


def test_word_slots() -> None:
    source = 'SET THEME "Dark"\nSET THEME Dark\nSET THEME t.name\nSORT r BY "n"\nSORT r BY TRUE'
    assert body(source) == [
        '<SET THEME>("Dark")', '<SET THEME>("dark")', "<SET THEME>(t.name)",
        '<SORT>(r, "n")', '<SORT>(r, "TRUE")',
    ]  # fmt: skip


def test_hear_forms() -> None:
    assert body(
        'HEAR x AS "products.xlsx"\nHEAR x AS my stock.xlsx\nHEAR x AS options\n'
        "HEAR x AS emails\nHEAR row.answer AS EMAIL\nHEAR a(1)"
    ) == [
        'x = <HEAR>("sheet", "products.xlsx")',
        'x = <HEAR>("sheet", "my stock.xlsx")',
        'x = <HEAR>("menu", [options])',
        'x = <HEAR>("menu", [emails])',
        'row.answer = <HEAR>("email")',
        "a[1] = <HEAR>()",
    ]
    assert body('HEAR x AS "a.xlsx", "b"\nHEAR x AS "${y}.xlsx"') == [
        'x = <HEAR>("menu", ["a.xlsx", "b"])',
        'x = <HEAR>("menu", ["${y}.xlsx"])',
    ]
    assert errors("HEAR x AS a.b.") == [
        "1:15: expected a member name after '.', found the end of the line"
    ]


def test_print_input_and_open_variants() -> None:
    assert body('PRINT #1; a\nINPUT "Name"; n\nOPEN "f.txt" AS #2\nOPEN u WITH #shared') == [
        "<PRINT FILE>(1, [a])", '<TALK>("Name")', "n = <HEAR>()",
        '<OPEN FILE>("f.txt", 2)', '<OPEN>(u, null, null, "WITH", "shared")',
    ]  # fmt: skip


def test_save_field_names_keep_their_case() -> None:
    assert body('SAVE "t", nomeDoCliente, row.Email, x + 1\nSAVE "t"') == [
        '<SAVE>("t", [nomedocliente, row.Email, (x + 1)], ["nomeDoCliente", "Email", null])',
        '<SAVE>("t", [], [])',
    ]


def test_select_keeps_the_query() -> None:
    assert body("r = SELECT SUM(a) AS s, b FROM sales GROUP BY b") == [
        'r = <SELECT>(sales, "SELECT SUM(a) AS s, b FROM ? GROUP BY b")'
    ]


def test_unquoted_talk_text() -> None:
    assert body(
        "TALK Hello, ${name}!\nTALK x + 1\nTALK Let's go\nTALK 50% off\nTALK row.name\n"
        "TALK a(\nTALK f(x)[1]\nTALK name"
    ) == [
        '<TALK>("Hello, ${name}!")', '<TALK>("x + 1")', '<TALK>("Let\'s go")',
        '<TALK>("50% off")', "<TALK>(row.name)", '<TALK>("a(")', "<TALK>(f(x)[1])",
        "<TALK>(name)",
    ]  # fmt: skip
    assert errors("TALK Hi ${x") == ["1:9: unterminated ${ in a string: expected '}'"]


def test_forms_in_odd_places() -> None:
    assert body('x = FIND()\nx = SET "a.xlsx", "A1"\nTABLE\nTABLE 5') == [
        "x = <FIND>()", 'x = <SET>("a.xlsx", "A1")', "call table()", "call table(5)",
    ]  # fmt: skip
    assert errors("TALK()") == ["1:6: expected text here, found ')'"]
    assert errors("SEND FILE(a b)") == ["1:13: expected ')' after the arguments of SEND FILE"]
    assert errors("TALK(a") == [
        "1:7: expected ')' to close the parenthesis, found the end of the line"
    ]


def test_phrases_anywhere() -> None:
    assert body("IF NOT CONTINUATION TOKEN THEN x = ACTIVE TASKS + 1") == [
        ("IF", "(not <CONTINUATION TOKEN>())", ["x = (<ACTIVE TASKS>() + 1)"])
    ]


def test_catalog_indexes() -> None:
    assert [f.keyword for f in SUFFIX_FORMS] == ["AS IMAGE", "AS PDF"]
    assert {f.keyword for f in PHRASES} == {"CONTINUATION TOKEN", "ACTIVE TASKS"}
    send = [f.pattern for f in BY_FIRST_WORD["SEND"]]
    assert send.index("SEND FILE TO {mobile}, {file} [, {caption}]") < send.index(
        "SEND FILE {file} [, {caption}]"
    )
    assert "TALK" in KEYWORD_WORDS and "A" not in KEYWORD_WORDS and "EACH" in KEYWORD_WORDS


def test_signatures_cover_the_catalog() -> None:
    assert set(SIGNATURES) == set(KEYWORD_NAMES)
    registry = standard_registry()
    assert registry.names() == list(SIGNATURES)
    assert all(spec.fn is None and spec.is_async for spec in registry)
    hear = registry.get("HEAR")
    assert hear.suspends and hear.min_args == 0 and hear.max_args == 2
    find = registry.get("FIND")
    assert find.min_args == 1 and find.max_args is None and find.params[1].variadic
    assert description("TALK") == "send text to the user (translated to the user's locale)"


def test_signature_notation() -> None:
    assert parse_signature("X", "a: number, b?: string, *c: any -> list") == (
        [
            ParamSpec("a", Kind.NUMBER),
            ParamSpec("b", Kind.STRING, optional=True, nullable=True),
            ParamSpec("c", Kind.ANY, variadic=True),
        ],
        Kind.LIST,
    )
    for bad, message in [
        ("a: number", "has no '->'"),
        ("a -> null", "bad parameter 'a'"),
        ("a: text -> null", "bad parameter 'a: text'"),
        ("-> thing", "bad return kind 'thing'"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_signature("X", bad)


def test_pattern_notation() -> None:
    elements = compile_pattern("GO TO {a} [, {b*}] [{k:AS|WITH} #{s:handle}] = {>t} {w:lword}")
    assert elements == (
        Word("GO"), Word("TO"), Slot("a", "expr"),
        Optional((Punct(","), Slot("b", "list"))),
        Optional((Slot("k", "choice", ("AS", "WITH")), Punct("#"), Slot("s", "handle"))),
        Punct("="), Slot("t", "target"), Slot("w", "lword"),
    )  # fmt: skip
    assert render(elements) == "GO TO a [, b, …] [AS|WITH #s] = t w"
    for bad, message in [
        ("A ]", "unbalanced ]"),
        ("A [", "unbalanced \\["),
        ("A {x:nope}", "unknown slot kind"),
        ("A ?", "bad token"),
    ]:
        with pytest.raises(ValueError, match=message):
            compile_pattern(bad)
    with pytest.raises(ValueError, match="names no slot"):
        Form("A {x}", "A", "A 1", args=("y",))
    form = Form("A {x} [{y}]", "A", "A 1", args=("x", "'c'", "[y]"))
    assert form.words == ("A",) and not form.has_target and form.usage == "A x [y]"
