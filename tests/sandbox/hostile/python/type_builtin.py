# Tries: type(x) to get classes, type("X", (), {...}) to build one with a __del__ hook, and
# object / super as stepping stones.
# ruff: noqa
def select(ctx):
    try:
        klass = type(ctx)
        return ctx["members"][1] if klass else None
    except NameError:
        pass
    try:
        base = object
        return ctx["members"][1] if base else None
    except NameError:
        pass
    return super
