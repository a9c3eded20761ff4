# Tries: answer objects that are not JSON (a function, hoping the worker leaks it, and NaN).
# ruff: noqa
def select(ctx):
    return [ctx["members"][1], select, float("nan")]
