REM A forgotten THEN, and the parser goes on to find the next error too.
TALK "How old are you?"
HEAR age AS INTEGER
IF age > 17 TALK "adult"
FOR i = 1 TO
    TALK i
NEXT
