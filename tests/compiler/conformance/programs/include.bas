REM INCLUDE pastes another file's code (here: a helper FUNCTION).
INCLUDE greetings.bas
SET SCHEDULE "0 9 * * 1"
TALK Greet("team")
