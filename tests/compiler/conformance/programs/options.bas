REM Per-dialog options of the SET keywords; they change how later keywords behave.
SET THEME dark
SET TRANSLATOR OFF
SET PAGE MODE "none"
SET FILTER "age > 18"
SET MAX COLUMNS 20
SET HEADER "X-Request-Id" AS "42"
SET HTTP USERNAME = "bot"
SET HTTP PASSWORD = "secret"
TALK "Options are set."
SET LANGUAGE "pt"
TALK "Quantos anos você tem?"
HEAR age AS INTEGER
TALK "Idade: " + age
