# Tries: getattr(type-of-something, "mro") on the dict type and on a builtin function, to climb to
# `object` and `type` without writing an underscore.
# ruff: noqa
def select(ctx):
    for thing in (dict, len, select, sorted):
        try:
            chain = getattr(thing, "mro")()
        except Exception:
            continue
        if chain:
            return ctx["members"][1]
    return "contained"  # not a member: the pool falls back
