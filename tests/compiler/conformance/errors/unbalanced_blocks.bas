REM Blocks closed that were never opened, or never closed.
NEXT
IF TRUE THEN
    TALK "open"
LOOP
