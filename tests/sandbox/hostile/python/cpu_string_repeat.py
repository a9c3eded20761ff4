# Tries: huge string repeats ("x" * n with n in the billions), then operations on the result.
# ruff: noqa
def select(ctx):
    blob = "x" * (10**10)
    blob = blob.upper() + blob
    return ctx["members"][1] if blob else None
