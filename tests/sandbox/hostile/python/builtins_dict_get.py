# Tries: dict .get on a function's globals to read "__builtins__" and take its open/__import__,
# reaching the globals through a computed attribute name.
# ruff: noqa
def select(ctx):
    space = getattr(select, "_" + "_globals__")
    builtins_table = space.get("_" + "_builtins__")
    importer = builtins_table.get("_" + "_import__") or builtins_table.get("open")
    if importer is not None:
        return ctx["members"][1]
    return None
