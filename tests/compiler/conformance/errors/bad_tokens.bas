TALK "an unterminated string
x = 3 +
y = (1 + 2
TALK "ok"
