REM FIND … OR TALK: say something and stop when nothing is found.
TALK "Order number?"
HEAR number
order = FIND "orders.xlsx", "id = ${number}" OR TALK "Order ${number} was not found."
TALK "Order ${number} is " + order.status
