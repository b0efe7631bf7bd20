"""Words with a syntactic role, for the lexer's one context-sensitive decision.

A ``'`` after an operand starts a comment (``x = 1 ' note``); after an operator or a keyword
it starts a single-quoted string (``TALK 'hi'``, ``a + '/' + b``). The lexer needs to know
which words are keywords for that; the parser treats them as soft keywords otherwise.
"""

from __future__ import annotations

CONTROL_WORDS = frozenset(
    {
        "IF", "THEN", "ELSE", "ELSEIF", "ENDIF", "END", "FOR", "EACH", "IN", "TO", "STEP",
        "NEXT", "DO", "LOOP", "WHILE", "UNTIL", "WEND", "SELECT", "CASE", "IS", "FUNCTION",
        "SUB", "CALL", "RETURN", "EXIT", "LET", "DIM", "AS", "NEW", "OBJECT", "ARRAY", "AND",
        "OR", "NOT", "MOD", "BEGIN", "TABLE", "ON", "PARAM", "DESCRIPTION", "INCLUDE",
        "BYVAL", "BYREF", "BREAK", "DEFAULT",
    }
)  # fmt: skip
