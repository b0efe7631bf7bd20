' The language option picks the sentences HEAR says when it re-asks.
SET LANGUAGE "pt"
TALK "Qual é o seu e-mail?"
HEAR mail AS EMAIL
TALK "Quanto custa?"
HEAR price AS MONEY
TALK "E-mail ${mail}, valor ${price}."
