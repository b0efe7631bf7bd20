REM Text: interpolation, concatenation and the built-in functions.
name = "  Maria da Silva  "
clean = TRIM(name)
TALK "[" + clean + "]"
TALK "Hello ${clean}, you have ${LEN(clean)} letters."
TALK "" & UCASE(LEFT(clean, 5)) & "/" & LCASE(RIGHT(clean, 5))
TALK MID(clean, 6, 2)
TALK "positions: " + INSTR(clean, "da") + " " + INSTR(clean, "xyz")
TALK REPLACE(clean, "Silva", "Souza")
parts = SPLIT("a;b;c", ";")
TALK "${UBOUND(parts)} parts: ${JOIN(parts, "-")}"
TALK "quote: 'single' and ${1 + 2}"
TALK 'single-quoted text'
TALK "number text: " + 0.1 + 0.2
TALK "sum: " + (0.5 + 0.25)
TALK "twice: " + VAL("42") * 2
TALK "" + STR(7) + "7"
