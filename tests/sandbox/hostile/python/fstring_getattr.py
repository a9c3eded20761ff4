# Tries: f-strings whose expressions call getattr with computed dunder names (compiles fine,
# must be refused at run time).
# ruff: noqa
def select(ctx):
    name = "_" + "_globals_" + "_"
    text = f"{getattr(select, name)}"
    if "builtins" in text:
        return ctx["members"][1]
    return None
