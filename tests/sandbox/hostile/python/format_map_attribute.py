# Tries: str.format_map with a mapping, walking to a function's globals by attribute fields.
# ruff: noqa
def select(ctx):
    text = "{f.__globals__}".format_map({"f": select})
    if "builtins" in text:
        return ctx["members"][1]
    return None
