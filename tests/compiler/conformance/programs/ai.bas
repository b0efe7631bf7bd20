REM AI, vision, images and social networks go to their services.
BEGIN SYSTEM PROMPT
    You are a helpful assistant of a small bakery.
    Answer in one sentence.
END SYSTEM PROMPT
SET CONTEXT "Opening hours: 8:00 to 18:00."
SET ANSWER MODE "document"
reply = ANSWER "When do you open?"
TALK reply
caption = REWRITE "Write a post about fresh bread"
picture = GET IMAGE caption
SHOW IMAGE picture
SEE CAPTION OF picture AS description
SEE TEXT OF "menu.png" AS menuText
soft = BLUR picture
crisp = SHARPEN picture
MERGE IMAGE soft, crisp
TWEET caption
POST TO INSTAGRAM "bakery", "secret", picture, caption
farm = CREATE A BOT FARM USING "farm.xlsx"
TALK "All done: " + description + " / " + menuText
