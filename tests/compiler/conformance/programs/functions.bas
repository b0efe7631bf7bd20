REM FUNCTION, SUB, CALL, RETURN and recursion.
FUNCTION Factorial(n)
    IF n <= 1 THEN
        RETURN 1
    END IF
    RETURN n * Factorial(n - 1)
END FUNCTION

FUNCTION Greeting(name, hour)
    IF hour < 12 THEN
        Greeting = "Good morning, " + name
    ELSE
        Greeting = "Good afternoon, " + name
    END IF
END FUNCTION

SUB Announce(text)
    IF text = "" THEN EXIT SUB
    TALK "** " + text + " **"
END SUB

FUNCTION FirstEven(items)
    FOR EACH item IN items
        IF item MOD 2 = 0 THEN
            FirstEven = item
            EXIT FUNCTION
        END IF
    NEXT
    FirstEven = -1
END FUNCTION

TALK "5! = " + Factorial(5)
TALK Greeting("Ana", 9)
TALK Greeting("Bruno", 15)
CALL Announce("Sale")
Announce ""
Announce "Done"
TALK "first even: " + FirstEven([3, 5, 8, 10])
TALK "no even: " + FirstEven([1, 3])
