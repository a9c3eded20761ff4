# Tries: getattr(x, "__class__") and getattr(x, "__dict__") with the literal names: the guarded
# getattr must refuse them at run time.
# ruff: noqa
def select(ctx):
    klass = getattr(ctx, "__class__")
    if getattr(klass, "__dict__"):
        return ctx["members"][1]
    return None
