REM The options of a menu come from column A of a sheet.
TALK "Which product do you want?"
HEAR product AS products.xlsx
TALK "Good choice: " + product
