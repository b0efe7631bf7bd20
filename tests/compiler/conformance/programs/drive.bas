REM Drive, documents, charts and payments go to their services.
files = DIR "reports"
folder = CREATE FOLDER "archive/2024"
SHARE FOLDER folder, "ana@example.com", "For you"
SHARE FOLDER folder
COPY "report.docx", "archive/report.docx"
CONVERT "report.docx", "report.pdf"
blob = UPLOAD "report.pdf"
SAVE blob AS "archive/report.pdf"
text = GET "contract.pdf"
DELETE "old.pdf"
doc = FILL "template.docx" WITH {"name": "Ana"}
img = files AS IMAGE
pdf = files AS PDF
kept = AUTO SAVE blob
chart = CHART "bar", [1, 2, 3], "a;b;c"
chart = CHART "pie", [1, 2], "x;y", TRUE
smart = CHART PROMPT "line", files, "sales by month"
payment = PAY "order-1", "Ana", 99.9
TALK "Pay with: " + payment
