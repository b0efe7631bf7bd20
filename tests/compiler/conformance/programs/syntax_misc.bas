10 REM Line numbers, comments, continuation, case and one-line forms.
20 ' A comment line
30 Talk "Keywords in any case"   ' a trailing comment
40 total = 1 + _
    2 + _
    3
TALK "Continued: " & total
If total = 6 Then Talk "one-line IF" Else Talk "never"
IF total <> 6 THEN TALK "never" ELSE TALK "one-line ELSE"
LET answer = total * 7
TALK "LET works: " + answer
x = 7 \ 2
y = 7 MOD 2
z = 2 ^ 10
TALK "int div " + x + ", mod " + y + ", power " + z
TALK "logic: " + (TRUE AND NOT FALSE) + " " + (1 > 2 OR 2 > 1)
TALK "compare: " + (1 = 1) + " " + ("a" <> "b") + " " + ("b" > "a") + " " + (2 <= 2)
TALK "strict: " + (1 = "1")
s = "a"
s &= "b"
n = 5
n += 1
TALK "compound: " + s + " " + n
TALK Unquoted text is sent as it is, total = ${total}
TALK total + " is not an expression here: the line does not start with a quote"
BEGIN TALK
    General Bots
    Line two of one message
END TALK
END
TALK "never reached"
