REM Literal arguments of the wrong kind, seen by the checker.
WAIT "five"
SET MAX LINES "many"
x = DATEADD today, 3, 1
TALK "fine"
