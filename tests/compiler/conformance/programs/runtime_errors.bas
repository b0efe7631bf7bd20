REM Each answer runs into a different runtime error; the dialog ends naming the line.
FUNCTION Ratio(a, b)
    Ratio = a / b
END FUNCTION

TALK "Which error?"
HEAR which
SELECT CASE which
    CASE "divide"
        TALK Ratio(1, 0)
    CASE "index"
        items = [1, 2, 3]
        TALK items[3]
    CASE "convert"
        n = VAL("twelve")
    CASE "null"
        empty = NULL
        TALK empty.name
    CASE "table"
        rows = FIND "Nowhere", "a = 1"
    CASE "filter"
        rows = FIND [{"a": 1}], "no operator here"
    CASE "date"
        d = DATEADD "someday", "day", 1
    CASE "option"
        SET OUTPUT LIST
    CASE "hear"
        HEAR again
    CASE "arithmetic"
        x = "abc" * 2
END SELECT
TALK "not reached"
