REM WAIT pauses, LOG and DEBUG record values, ADD NOTE appends to the notes sheet.
TALK "Working on it..."
WAIT 2
LOG "step one done"
order = NEW OBJECT
order.id = 7
DEBUG order
ADD NOTE "Customer asked for a refund."
TALK "Done."
