REM Every loop form of the dialect.
total = 0
FOR i = 1 TO 10
    total = total + i
NEXT i
TALK "1..10 = " + total

line = ""
FOR i = 10 TO 1 STEP -3
    line = line & i & " "
NEXT
TALK "countdown: " + TRIM(line)

fruits = ["apple", "banana", "cherry"]
FOR EACH fruit IN fruits
    IF fruit = "banana" THEN EXIT FOR
    TALK "fruit: " + fruit
NEXT

n = 0
DO WHILE n < 3
    n = n + 1
LOOP
TALK "do while: " + n

DO UNTIL n = 0
    n = n - 1
LOOP
TALK "do until: " + n

DO
    n = n + 5
LOOP WHILE n < 12
TALK "loop while: " + n

DO
    n = n - 4
LOOP UNTIL n < 0
TALK "loop until: " + n

WHILE n < 10
    n = n + 7
WEND
TALK "while wend: " + n

DO
    n = n * 2
    IF n > 100 THEN EXIT DO
LOOP
TALK "exit do: " + n

FOR i = 1 TO 3
    FOR j = 1 TO 3
        IF j > i THEN EXIT FOR
        total = total + 1
    NEXT j
NEXT i
TALK "nested: " + total
