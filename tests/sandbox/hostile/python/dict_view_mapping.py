# Tries: dict views' `mapping` attribute and a bound method's __self__ to reach other objects,
# and next()/iter() on non-iterators (a function, a type).
# ruff: noqa
def select(ctx):
    for probe in (
        lambda: getattr(ctx.keys(), "mapping"),
        lambda: getattr(ctx.get, "_" + "_self__"),
        lambda: next(select),
        lambda: iter(str),
    ):
        try:
            if probe() is not None:
                return ctx["members"][1]
        except Exception:
            pass
    return "contained"  # not a member: the pool falls back
