# Tries: a C-level hog that the guards cannot see: squaring a 30-million-bit integer (about 15 s
# of Karatsuba in one C call). CPython's big-integer loops do check for signals, so the soft
# timeout stops it; otherwise the parent deadline / SIGXCPU would.
# ruff: noqa
def select(ctx):
    x = (1 << (3 * 10**7)) - 1
    x = x * x
    return ctx["members"][1] if x else None
