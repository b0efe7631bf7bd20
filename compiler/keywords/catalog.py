"""Every keyword form of the dialect and the registry call it makes.

Collected from the reference table (facts §1.3) and the original's ``KeywordsExpressions.ts``
(its ~150 rewrite rules), with what the BASIC evidently means where the original's regexes
were broken (DESIGN.md): whole-word matching, ``CHART PROMPT`` not shadowed by ``CHART``,
``AUTO SAVE`` assigning its result, ``FIND … OR TALK`` working, ``SEE TEXT OF`` with any
expression. Forms with the same key words are tried in the order listed (the parser also
tries longer key words first); the first that matches the whole statement wins.

Control flow (IF, FOR, SELECT CASE, FUNCTION, …) and the metadata statements (PARAM,
DESCRIPTION, SET SCHEDULE, INCLUDE, TABLE, BEGIN TALK / BEGIN SYSTEM PROMPT blocks) are syntax,
handled by the parser; everything that calls the host is here.
"""

from __future__ import annotations

from collections import defaultdict

from .forms import Form
from .vocabulary import CONTROL_WORDS

#: ``HEAR x AS <word>``: the word → the ``kind`` argument of HEAR (the original's rules).
HEAR_KINDS: dict[str, str] = {
    "EMAIL": "email",
    "INTEGER": "integer",
    "NUMBER": "integer",
    "BOOLEAN": "boolean",
    "NAME": "name",
    "DATE": "date",
    "HOUR": "hour",
    "MONEY": "money",
    "ZIPCODE": "zipcode",
    "QRCODE": "qrcode",
    "FILE": "file",
    "LANGUAGE": "language",
    "LOGIN": "login",
    "PHONE": "phone",
    # The original's HEAR validated a "mobile" kind no rule produced; MOBILE fell into a menu.
    "MOBILE": "mobile",
}

_HEAR: list[Form] = [
    Form(f"HEAR {{>var}} AS {word}", "HEAR", f"HEAR x AS {word}", args=(f"'{kind}'",))
    for word, kind in HEAR_KINDS.items()
] + [
    Form("HEAR {>var} AS {sheet:sheet}", "HEAR", "HEAR x AS products.xlsx",
         args=("'sheet'", "sheet")),
    Form("HEAR {>var} AS {options*}", "HEAR", 'HEAR x AS "Yes", "No"',
         args=("'menu'", "[options]")),
    Form("HEAR {>var}", "HEAR", "HEAR name"),
]  # fmt: skip

_CONVERSATION: list[Form] = [
    Form("TALK TO {mobile}, {message}", "TALK TO", 'TALK TO "5521999", "Hi"'),
    Form("TALK {text:text}", "TALK", 'TALK "Hello, ${name}"'),
    Form("PRINT #{file:handle}, {values*}", "PRINT FILE", "PRINT #1, a, b",
         args=("file", "[values]")),
    Form("PRINT {text}", "TALK", 'PRINT "Total: " + total'),
    Form("WRITE #{file:handle}, {values*}", "PRINT FILE", "WRITE #1, a, b",
         args=("file", "[values]")),
    Form("WRITE {text}", "TALK", "WRITE total"),
    Form("INPUT {prompt}, {>var}", "HEAR", 'INPUT "Your name?", name', build="input"),
    Form("INPUT {>var}", "HEAR", "INPUT name"),
    Form("SET HEAR ON {mobile}", "SET HEAR ON", "SET HEAR ON agent"),
    Form("SHOW MENU", "SHOW MENU", "SHOW MENU"),
    Form("TRANSFER TO {to}", "TRANSFER", 'TRANSFER TO "support"'),
    Form("TRANSFER", "TRANSFER", "TRANSFER"),
    Form("SET LANGUAGE {language}", "SET LANGUAGE", 'SET LANGUAGE "pt"'),
    Form("SET TRANSLATOR {on:lword}", "SET TRANSLATOR", "SET TRANSLATOR OFF"),
    Form("SET THEME {theme:lword}", "SET THEME", "SET THEME dark"),
    Form("SET WHOLE WORD {on:lword}", "SET WHOLE WORD", "SET WHOLE WORD ON"),
    Form("SET MAX LINES {count}", "SET MAX LINES", "SET MAX LINES 5000"),
    Form("SET MAX COLUMNS {count}", "SET MAX COLUMNS", "SET MAX COLUMNS 100"),
    Form("SET OUTPUT {value:word}", "SET OUTPUT", "SET OUTPUT ARRAY"),
    Form("SET FILTER {value}", "SET FILTER", 'SET FILTER "age > 18"'),
    Form("SET PAGE MODE {mode}", "SET PAGE MODE", 'SET PAGE MODE "auto"'),
    Form("SET PARAM {name:word} AS {value}", "SET PARAM", "SET PARAM color AS answer"),
    Form("GET CONFIG {name}", "GET CONFIG", 'x = GET CONFIG "Bot Admin Number"'),
    Form("CONTINUATION TOKEN", "CONTINUATION TOKEN", "t = CONTINUATION TOKEN", anywhere=True),
    Form("ALLOW ROLE {role}", "ALLOW ROLE", 'ALLOW ROLE "Admin"'),
    Form("SEND EMAIL {to}, {subject}, {body}", "SEND MAIL", 'SEND EMAIL to, "Hi", body'),
    Form("SEND MAIL {to}, {subject}, {body}", "SEND MAIL", 'SEND MAIL to, "Hi", body'),
    Form("SEND SMS TO {mobile}, {message}", "SEND SMS TO", 'SEND SMS TO mobile, "Hi"'),
    Form("SEND FILE TO {mobile}, {file} [, {caption}]", "SEND FILE TO",
         'SEND FILE TO mobile, "a.pdf", "Your file"'),
    Form("SEND FILE {file} [, {caption}]", "SEND FILE", 'SEND FILE img, "Chart"'),
    Form("SEND TEMPLATE TO {mobile}, {file}", "SEND TEMPLATE TO",
         'SEND TEMPLATE TO mobile, "news.docx"'),
    Form("WAIT {seconds}", "WAIT", "WAIT 5"),
    Form("LOG {value}", "LOG", "LOG order"),
    Form("DEBUG {value}", "LOG", "DEBUG order"),
    Form("ADD NOTE {text}", "ADD NOTE", 'ADD NOTE "Called back"'),
    Form("USER OF {username}", "USER OF", 'u = USER OF "alias"'),
    Form("FORMAT {value}, {format}", "FORMAT", 's = FORMAT today, "dd/MM/yyyy"'),
    Form("DATEADD {date}, {mode}, {units}", "DATEADD", 'd = DATEADD today, "day", 3'),
    Form("DATEDIFF {date1}, {date2}, {mode}", "DATEDIFF", 'n = DATEDIFF a, b, "day"'),
    Form("CARD {doc}, {data}", "CARD", 'c = CARD "card.docx", data'),
    Form("CREATE DEAL {name}, {contact}, {company}, {amount}", "CREATE DEAL",
         'd = CREATE DEAL "Deal", contact, "ACME", 1000'),
    Form("ACTIVE TASKS", "ACTIVE TASKS", "t = ACTIVE TASKS", anywhere=True),
    Form("FIND CONTACT {name}", "FIND CONTACT", 'c = FIND CONTACT "Ana"'),
    Form("GO TO {dialog} [, {then}]", "GO TO", 'GO TO "survey"'),
]  # fmt: skip

_DATA: list[Form] = [
    Form("FIND {criteria*} OR TALK {message}", "FIND", 'x = FIND "t.xlsx", "id=1" OR TALK "none"',
         build="find_or_talk"),
    Form("FIND [{criteria*}]", "FIND", 'rows = FIND "customers.xlsx", "city=Rio"'),
    Form("SELECT {sql:raw}", "SELECT", "r = SELECT name FROM rows WHERE age > 18", build="select"),
    Form("SAVE {data} AS {file}", "SAVE AS", 'SAVE doc AS "reports/a.pdf"'),
    Form("SAVE {file} [, {values*}]", "SAVE", 'SAVE "log.xlsx", name, email', build="save"),
    Form("DELETE {target} [, {criteria}]", "DELETE", 'DELETE "Orders", "id=3"'),
    Form("MERGE IMAGE {files*}", "MERGE IMAGE", "MERGE IMAGE a, b", args=("[files]",)),
    Form("MERGE {file} WITH {data} BY {key}", "MERGE", 'MERGE "Customers" WITH list BY "Id"'),
    Form("RESET REPORT", "RESET REPORT", "RESET REPORT"),
    Form("SYNCHRONIZE {path}, {table}, {key}, {page}, {limit}", "SYNCHRONIZE",
         'SYNCHRONIZE "/api/items", "Items", "id", "page", "limit"'),
    Form("SET HEADER {name} AS {value}", "SET HEADER", 'SET HEADER "X-Id" AS id'),
    Form("SET HTTP USERNAME [=] {value}", "SET HTTP USERNAME", 'SET HTTP USERNAME = "u"'),
    Form("SET HTTP PASSWORD [=] {value}", "SET HTTP PASSWORD", 'SET HTTP PASSWORD = "p"'),
    Form("SET {>var} = {value}", "SET", "SET x = NEW OBJECT", build="assign"),
    Form("SET {file}, {address} [, {value}]", "SET", 'SET "data.xlsx", "A2", 10'),
    Form("GET STOCK FOR {symbol}", "GET STOCK FOR", 'GET STOCK FOR "MSFT"', target="stock"),
    Form("GET IMAGE {prompt}", "GET IMAGE", 'i = GET IMAGE "a cat"'),
    Form("GET {address}", "GET", 'r = GET "https://example.com/api"'),
    Form("GET {frame}, {selector}", "GET ELEMENT", 'e = GET "#frame", "#field"'),
    Form("GET {page}, {frame}, {selector}", "GET ELEMENT", 'e = GET page, "#frame", "#f"',
         args=("frame", "selector")),
    Form("POST {url}, {data}", "POST", "r = POST url, data"),
    Form("PUT {url}, {data}", "PUT", "r = PUT url, data"),
    Form("DIR {path}", "DIR", 'files = DIR "default.gbdrive"'),
    Form("UPLOAD {file}", "UPLOAD", "blob = UPLOAD item"),
    Form("COPY {src}, {dest}", "COPY", 'COPY "a.docx", "b.docx"'),
    Form("CONVERT {src}, {dest}", "CONVERT", 'CONVERT "a.docx", "a.pdf"'),
    Form("CREATE FOLDER {name}", "CREATE FOLDER", 'f = CREATE FOLDER "reports"'),
    Form("SHARE FOLDER {folder} [, {email} [, {message}]]", "SHARE FOLDER",
         'SHARE FOLDER f, "ana@example.com", "For you"'),
    Form("FILL {template} WITH {data}", "FILL", 'doc = FILL "template.docx" WITH data'),
    Form("{data} AS IMAGE", "AS IMAGE", "img = rows AS IMAGE"),
    Form("{data} AS PDF", "AS PDF", "pdf = rows AS PDF"),
    Form("SORT {list} BY {member:word}", "SORT", "s = SORT rows BY name"),
    Form("APPEND {items*}", "APPEND", "all = APPEND a, b"),
    Form("AUTO SAVE {handle}", "AUTO SAVE", "f = AUTO SAVE upload"),
    Form("REFRESH {connection}", "REFRESH", 'REFRESH "llm"'),
    Form("OPEN {file} [FOR {mode:lword}] AS #{number:handle}", "OPEN FILE",
         'OPEN "data.txt" FOR OUTPUT AS #1', args=("file", "number", "mode"), build="open_file"),
    Form("OPEN {url} [, {username}, {password}] [{kind:AS|WITH} #{session:handle}]", "OPEN",
         'OPEN "https://site" AS #web', args=("url", "username", "password", "kind", "session")),
    Form("CLOSE [#{file:handle}]", "CLOSE", "CLOSE #1"),
    Form("PAY {order}, {customer}, {amount}", "PAY", 'q = PAY "1", "Ana", 10'),
    Form("CHART PROMPT {type}, {data}, {prompt}", "CHART PROMPT",
         'c = CHART PROMPT "bar", data, "sales by month"'),
    Form("CHART {type}, {data} [, {legends} [, {transpose}]]", "CHART",
         'c = CHART "bar", data, "a;b"'),
]  # fmt: skip

_WEB: list[Form] = [
    Form("CLICK LINK TEXT {text} [, {index}]", "CLICK LINK TEXT", 'CLICK LINK TEXT "More", 1'),
    Form("CLICK BUTTON {text} [, {index}]", "CLICK BUTTON", 'CLICK BUTTON "OK"'),
    Form("CLICK {frame} [, {selector}]", "CLICK", 'CLICK "#submit"'),
    Form("HOVER {selector}", "HOVER", 'HOVER "#menu"'),
    Form("PRESS {key}", "PRESS", "PRESS ENTER"),
    Form("TEXT OF {frame} [, {selector}]", "TEXT OF", 't = TEXT OF "#price"'),
    Form("SCREENSHOT [{selector}]", "SCREENSHOT", 'f = SCREENSHOT "#chart"'),
    Form("DOWNLOAD {selector}, {folder}", "DOWNLOAD", 'f = DOWNLOAD "#link", "files"'),
]

_AI: list[Form] = [
    Form("SET CONTEXT {text}", "SET CONTEXT", "SET CONTEXT text"),
    Form("SET ANSWER MODE {mode}", "SET ANSWER MODE", 'SET ANSWER MODE "document"'),
    Form("ANSWER {text}", "ANSWER", "a = ANSWER question"),
    Form("REWRITE {text}", "REWRITE", 'caption = REWRITE "a post about products"'),
    Form("SHOW IMAGE {file}", "SHOW IMAGE", "SHOW IMAGE img"),
    Form("SEE CAPTION OF {url} AS {>var}", "SEE CAPTION", "SEE CAPTION OF url AS caption"),
    Form("SEE TEXT OF {url} AS {>var}", "SEE TEXT", "SEE TEXT OF url AS text"),
    Form("BLUR {file}", "BLUR", "f = BLUR img"),
    Form("SHARPEN {file}", "SHARPEN", "f = SHARPEN img"),
    Form("TWEET {text}", "TWEET", 'TWEET "Hello"'),
    Form("POST TO INSTAGRAM {username}, {password}, {image}, {caption}", "POST TO INSTAGRAM",
         "POST TO INSTAGRAM user, pass, image, caption"),
    Form("CREATE A BOT FARM USING {spec}", "CREATE A BOT FARM USING",
         'CREATE A BOT FARM USING "farm.xlsx"'),
]  # fmt: skip

#: Every form, in matching order.
FORMS: tuple[Form, ...] = (*_HEAR, *_CONVERSATION, *_DATA, *_WEB, *_AI)

#: Forms by their first key word, longest key words first (then in listed order).
BY_FIRST_WORD: dict[str, list[Form]] = defaultdict(list)
for _form in FORMS:
    if _form.words:
        BY_FIRST_WORD[_form.words[0]].append(_form)
for _forms in BY_FIRST_WORD.values():
    _forms.sort(key=lambda f: -len(f.words))

#: Forms that begin with an expression (``x = rows AS IMAGE``).
SUFFIX_FORMS: tuple[Form, ...] = tuple(f for f in FORMS if not f.words)

#: Argument-less phrases usable anywhere in an expression.
PHRASES: tuple[Form, ...] = tuple(f for f in FORMS if f.anywhere)

#: Registry names the parser calls for syntax outside the forms: ``BEGIN TALK`` blocks and
#: ``INPUT`` / ``FIND … OR TALK`` call TALK, ``BEGIN SYSTEM PROMPT`` blocks SYSTEM PROMPT.
BLOCK_KEYWORDS = frozenset({"TALK", "SYSTEM PROMPT"})

#: Every registry name the dialect calls.
KEYWORD_NAMES: frozenset[str] = frozenset(f.keyword for f in FORMS) | BLOCK_KEYWORDS


#: Every word that starts or continues a statement's keywords (see ``vocabulary``); the
#: filler "A" of CREATE A BOT FARM USING is left out, being a common variable name.
KEYWORD_WORDS: frozenset[str] = CONTROL_WORDS.union(*(f.words for f in FORMS)) - {"A"}
