REM EXIT outside its block; a SUB with a repeated parameter.
EXIT FOR
DO WHILE TRUE
    EXIT FUNCTION
LOOP
SUB Show(a, a)
    TALK a
END SUB
