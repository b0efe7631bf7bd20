REM SORT … BY and APPEND over lists of rows.
people = FIND "people.xlsx"
byName = SORT people BY name
FOR EACH p IN byName
    TALK p.name
NEXT
byBirth = SORT people BY born
TALK "Oldest: " + byBirth[1].name
extra = [{"name": "Eva"}]
everyone = APPEND byName, extra, "", NULL
TALK "Everyone: " + UBOUND(everyone)
TALK "Last: " + everyone[3].name
