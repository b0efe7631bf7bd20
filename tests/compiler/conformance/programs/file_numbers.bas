REM Legacy file numbers: OPEN … AS #n, PRINT #n / WRITE #n write rows, CLOSE.
OPEN "visits.txt" FOR OUTPUT AS #1
PRINT #1, "Ana", 3
WRITE #1; "Bruno"; 5
CLOSE #1
visits = FIND "visits.xlsx"
TALK "Rows written: " + UBOUND(visits)
TALK "${visits[2].A} visited ${visits[2].B} times"
OPEN "other.txt" AS #2
CLOSE
