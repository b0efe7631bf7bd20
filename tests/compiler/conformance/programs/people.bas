REM Users, roles, menus, hand-off, other dialogs and the CRM go to their services.
ALLOW ROLE "Admin"
isManager = ALLOW ROLE "Manager"
who = USER OF "ana"
TALK "Hello " + who
SHOW MENU
SET HEAR ON "5521988887777"
HEAR approval
TALK "The agent said: " + approval
SET HEAR ON NULL
TRANSFER TO "support"
TRANSFER
GO TO "survey"
GO TO "5521988887777", "feedback"
card = CARD "card.docx", {"title": "Hi"}
deal = CREATE DEAL "Big deal", "Ana", "ACME", 1000
tasks = ACTIVE TASKS
contact = FIND CONTACT "Ana"
TALK "CRM: " + deal + ", " + tasks + ", " + contact
