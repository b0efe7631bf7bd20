REM SET and GET over the bot's memory, GET CONFIG, SET PARAM.
SET "greeting", "Welcome back"
SET "budget.xlsx", "B2", 1500
greeting = GET "greeting"
TALK greeting
budget = GET "budget.xlsx!B2"
TALK "Budget: " + budget
missing = GET "nothing"
IF ISNULL(missing) THEN TALK "No value for nothing."
admin = GET CONFIG "Bot Admin Number"
TALK "Admin: " + admin
unknown = GET CONFIG "No Such Parameter"
TALK "Unknown parameter is null: " + ISNULL(unknown)
SET PARAM favoriteColor AS "green"
