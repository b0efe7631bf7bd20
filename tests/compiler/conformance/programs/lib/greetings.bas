' Shared helpers, INCLUDEd by other dialogs.
FUNCTION Greet(name)
    Greet = "Hello, " + name + "!"
END FUNCTION
