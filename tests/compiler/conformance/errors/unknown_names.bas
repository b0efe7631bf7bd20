REM Calls to functions that do not exist, and wrong FUNCTION arity.
FUNCTION Twice(n)
    Twice = n * 2
END FUNCTION
TALK Twice(1, 2)
TALK Thrice(3)
CALL Missing
x = LEN("a", "b")
