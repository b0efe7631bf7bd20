REM Web automation: every keyword goes to the web service.
OPEN "https://shop.example.com" AS #shop
OPEN "https://intranet.example.com", "bot", "secret"
CLICK "#login"
CLICK "#frame", "#submit"
CLICK LINK TEXT "More", 2
CLICK BUTTON "OK"
HOVER "#menu"
PRESS "Tab"
price = TEXT OF "#price"
TALK "Price on the page: " + price
shot = SCREENSHOT "#chart"
file = DOWNLOAD "#report", "reports"
field = GET "#frame", "#field"
SET "#search", "printers"
rows = FIND "#results"
TALK "Found on the page: " + rows
