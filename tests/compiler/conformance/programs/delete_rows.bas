REM DELETE removes the rows a filter matches.
DELETE "Tasks", "done = true"
left = FIND "Tasks"
TALK "Tasks left: " + UBOUND(left)
DELETE "Tasks", "Pay in title"
still = FIND "Tasks", "id = 2"
TALK "Still there: " + still.title
