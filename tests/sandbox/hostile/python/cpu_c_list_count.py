# Tries: a C-level hog that never checks for signals: list.count over four million references to
# a 1000-element list, compared element by element in C (about ten seconds in one C call). Only
# the parent's deadline (or the worker's RLIMIT_CPU) can stop it.
# ruff: noqa
def select(ctx):
    rows = [[0] * 1000] * (4 * 10**6)
    hits = rows.count([0] * 999 + [1])
    return ctx["members"][1] if hits == 0 else None
