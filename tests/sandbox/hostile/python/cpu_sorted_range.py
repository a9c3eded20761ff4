# Tries: sorted(range(10**9)) - a billion-item list built and sorted in C.
# ruff: noqa
def select(ctx):
    order = sorted(range(10**9), key=lambda n: -n)
    return ctx["members"][1] if order else None
