# Tries: gi_code / co_consts / co_names of a generator to inspect and rebuild code objects.
# ruff: noqa
def select(ctx):
    gen = (x for x in ctx["members"])
    code = getattr(gen, "gi_code")
    if getattr(code, "co_names") is not None:
        return ctx["members"][1]
    return None
