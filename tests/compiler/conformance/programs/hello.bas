REM The smallest conversation: ask a name, greet it.
TALK "Hello, what is your name?"
HEAR name
TALK "Hi, " + name + "."
