# Tries: round(1, -10**9): int rounding computes 10**(10**9) in C.
# ruff: noqa
def select(ctx):
    value = round(12345, -(10**9))
    return ctx["members"][1] if value == 0 else None
