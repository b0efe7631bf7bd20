REM SAVE rows into a declared TABLE, then read them back.
TABLE Orders
    Id number key
    Customer string(100) *
    Amount double
    Paid boolean
END TABLE

TALK "Customer?"
HEAR customer
TALK "Amount?"
HEAR amount AS NUMBER
id = 1
paid = amount < 100
SAVE "Orders", id, customer, amount, paid

batch = NEW ARRAY
batch[0] = NEW OBJECT
batch[0].id = 2
batch[0].customer = "Bruno"
batch[0].amount = 250
SAVE "Orders", batch

all = FIND "Orders"
FOR EACH o IN all
    TALK "${o.Id}: ${o.Customer} owes ${o.Amount}"
NEXT
unpaid = FIND "Orders", "amount > 100"
TALK "Big order by " + unpaid.customer
