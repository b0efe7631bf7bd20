PARAM product AS string LIKE "fax" DESCRIPTION "Name of the item to price."
DESCRIPTION "Called when someone asks for a price: returns the price of the product, -1 if unknown."

price = -1
record = FIND "products.csv", "name = ${product}"
IF record THEN
    price = record.price
END IF
RETURN price
