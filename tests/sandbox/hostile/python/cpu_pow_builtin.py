# Tries: a C-level CPU hog that never returns to the interpreter: pow(10, 10**9) (minutes of
# big-integer work with no chance to handle a signal).
# ruff: noqa
def select(ctx):
    big = pow(10, 10**9)
    return ctx["members"][1] if big else None
