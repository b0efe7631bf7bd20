REM Objects and arrays built in BASIC.
order = NEW OBJECT
order.customer = "Ana"
order.items = NEW ARRAY
order.items[0] = "pen"
order.items[1] = "paper"
order.total = 12.5
TALK "${order.customer} ordered ${UBOUND(order.items)} items: ${JOIN(order.items, ', ')}"
TALK "first: " + order.items[0] + ", total: " + order.total
order["status"] = "paid"
TALK "status: " + order.status
TALK "unknown field is empty: [" + order.missing + "]"
matrix = [[1, 2], [3, 4]]
TALK "matrix[1][0] = " + matrix[1][0]
IF ISARRAY(matrix) AND NOT ISARRAY(order) THEN TALK "one is a list, the other is not"
TALK "empty: " + ISEMPTY(NEW ARRAY) + ", null: " + ISNULL(nothingHere)
