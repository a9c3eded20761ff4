# Tries: tuple(range(10**9)) / list(...) / set(...): the real types iterate their argument in C.
# ruff: noqa
def select(ctx):
    items = tuple(range(10**9))
    return ctx["members"][1] if items else None
