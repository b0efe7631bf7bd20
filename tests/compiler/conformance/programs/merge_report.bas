REM MERGE upserts rows by a key; REPORT sums what it did.
TALK REPORT
incoming = NEW ARRAY
incoming[0] = {"Id": 1, "Name": "Ana Souza"}
incoming[1] = {"Id": 2, "Name": "Bruno"}
incoming[2] = {"Id": 3, "Name": "Carla"}
MERGE "Customers" WITH incoming BY "Id"
TALK REPORT
more = [{"Id": 4, "Name": "Davi"}]
MERGE "Customers" WITH more BY "Id"
TALK REPORT
RESET REPORT
TALK REPORT
