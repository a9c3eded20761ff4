# Tries: 10 ** 10 ** 8 computed at run time (exponent from a variable, so the compiler cannot
# fold or refuse it), then its decimal string (quadratic) for good measure.
# ruff: noqa
def select(ctx):
    exponent = 10 ** (len(ctx["members"]) + 5)
    big = 10 ** exponent
    text = str(big)
    return ctx["members"][1] if text else None
