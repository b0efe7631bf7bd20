REM HTTP, SQL over rows, data sources and the paging token.
SET HEADER "Authorization" AS "Bearer abc"
quote = GET "https://api.example.com/quote?symbol=MSFT"
TALK "Quote: " + quote.price
created = POST "https://api.example.com/orders", {"item": "pen"}
updated = PUT "https://api.example.com/orders/1", {"item": "pencil"}
GET STOCK FOR "MSFT"
TALK "Stock: " + stock.price
SYNCHRONIZE "/api/customers", "Customers", "id", "page", "limit"
rows = [{"name": "Ana", "age": 30}, {"name": "Bia", "age": 17}]
adults = SELECT name FROM rows WHERE age >= 18
REFRESH "llm"
token = CONTINUATION TOKEN
TALK "No token yet: " + ISNULL(token)
