REM FIND over a sheet: filters, the {gbarray} rows, one row, no row.
rows = FIND "customers.xlsx", "city = Rio"
TALK "Customers in Rio: " + UBOUND(rows)
FOR EACH row IN rows
    TALK "${row.ordinal}. ${row.name} (line ${row.line})"
NEXT

i = 1
DO WHILE i <= UBOUND(rows)
    TALK "again: " + rows[i].name
    i = i + 1
LOOP

vip = FIND "customers.xlsx", "city = rio", "orders >= 10"
TALK "Only one VIP, a row itself: " + vip.name

older = FIND "customers.xlsx", "since < 01/01/2020"
TALK "Clients before 2020: " + UBOUND(older)

nobody = FIND "customers.xlsx", "city = Lisboa"
IF ISNULL(nobody) THEN TALK "Nobody in Lisboa."

rows = FIND "customers.xlsx", "name like %a"
TALK "Names ending in a: " + UBOUND(rows)

SET OUTPUT ARRAY
vip = FIND "customers.xlsx", "orders > 10"
TALK "With OUTPUT ARRAY one match is a list: " + UBOUND(vip) + " " + vip[1].name

SET MAX LINES 2
rows = FIND "customers.xlsx"
TALK "MAX LINES 2 reads " + UBOUND(rows) + " rows"

rows = FIND "customers.xlsx", "Paulo in city"
TALK "Whole word: " + UBOUND(rows)
SET WHOLE WORD OFF
SET MAX LINES 100
rows = FIND "customers.xlsx", "Paulo in city"
TALK "Part of the word: " + UBOUND(rows)
