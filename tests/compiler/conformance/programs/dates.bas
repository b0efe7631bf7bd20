REM Date keywords over locale strings and dates.
start = "30/01/2024"
iso = FORMAT start, "yyyy-MM-dd"
TALK iso
next = DATEADD start, "month", 1
shown = FORMAT next, "dd/MM/yyyy"
TALK "One month later: " + shown
later = DATEADD(start, "hour", 36)
shown = FORMAT later, "dd/MM HH:mm"
TALK "Plus 36 hours: " + shown
days = DATEDIFF "10/03/2024", start, "day"
TALK "Days between: " + days
weeks = DATEDIFF "10/03/2024", start, "week"
TALK "Weeks between: " + weeks
months = DATEDIFF "10/03/2024", start, "month"
TALK "Months between: " + months
price = FORMAT 1234.5, "#,##0.00"
TALK "Price: " + price
share = FORMAT 0.256, "0.0%"
TALK "Share: " + share
due = DATEADD today, "day", 10
gap = DATEDIFF due, today, "day"
TALK "Ten days from today: " + gap
TALK "Weekday of 2024-03-05: " + WEEKDAY("2024-03-05")
TALK "Hour of 2024-03-05 14:30: " + HOUR("2024-03-05 14:30")
