REM Arguments the parser finds missing: the form of SEND MAIL and DATEDIFF.
SEND MAIL "ana@example.com", "Subject only"
x = DATEDIFF today, today
