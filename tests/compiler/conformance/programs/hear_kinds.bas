REM Every kind of answer HEAR validates, each asked once.
TALK "How many tickets?"
HEAR tickets AS INTEGER
TALK "Weight of the parcel in kg?"
HEAR weight AS NUMBER
TALK "Date of the visit?"
HEAR visit AS DATE
TALK "At what time?"
HEAR arrival AS HOUR
TALK "How much do you want to pay?"
HEAR price AS MONEY
TALK "Your zip code?"
HEAR zip AS ZIPCODE
TALK "Your language?"
HEAR lang AS LANGUAGE
TALK "Your phone?"
HEAR phone AS PHONE
TALK "Your mobile?"
HEAR cell AS MOBILE
TALK "Your login?"
HEAR login AS LOGIN
TALK "tickets=${tickets} weight=${weight} visit=${visit} arrival=${arrival}"
TALK "price=${price} zip=${zip} lang=${lang} phone=${phone} cell=${cell} login=${login}"
TALK "" + (tickets * 2 + weight)
