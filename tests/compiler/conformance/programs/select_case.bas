REM SELECT CASE with values, lists, ranges, comparisons and CASE ELSE.
FUNCTION Classify(x)
    SELECT CASE x
        CASE 0
            Classify = "zero"
        CASE 1, 2, 3
            Classify = "small"
        CASE 4 TO 9
            Classify = "medium"
        CASE IS >= 100
            Classify = "huge"
        CASE "a", "b"
            Classify = "letter"
        CASE ELSE
            Classify = "other"
    END SELECT
END FUNCTION

FOR EACH v IN [0, 2, 7, 250, 50, "b", "z"]
    TALK "${v} is ${Classify(v)}"
NEXT
