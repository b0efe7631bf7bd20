REM INPUT asks with a prompt, PRINT and WRITE talk like TALK.
INPUT "What is your city?", city
PRINT "You live in " & city
INPUT age
WRITE "Next year you will be " + (VAL(age) + 1)
REM An answer is text: + joins it to a number, as JavaScript did.
WRITE age + 1
print "lower case keywords work too"
