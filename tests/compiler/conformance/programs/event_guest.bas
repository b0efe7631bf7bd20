' Registers a guest for an event, one question at a time.
TALK "Welcome! Could you tell me your full name?"
HEAR guest AS NAME

TALK "Your contact e-mail, please."
HEAR mail AS EMAIL

TALK "Will you bring a companion?"
HEAR companion AS BOOLEAN

TALK "Which day suits you best?"
HEAR day AS "Friday", "Saturday", "Sunday"

SAVE "guests.xlsx", guest, mail, companion, day
TALK "Thank you, ${guest}! See you on ${day}."
IF companion THEN
    TALK "We will keep two seats for you."
ELSE
    TALK "We will keep one seat for you."
END IF
