# Tries: the same subclass chain as introspect_subclasses.py, but with getattr() and attribute
# names assembled from strings at run time so that no underscore appears in the source.
# ruff: noqa
U = chr(95) * 2


def select(ctx):
    klass = getattr((), U + "class" + U)
    base = getattr(klass, U + "bases" + U)[0]
    for cls in getattr(base, U + "subclasses" + U)():
        if getattr(cls, U + "name" + U) == "_wrap_close":
            init_globals = getattr(getattr(cls, U + "init" + U), U + "globals" + U)
            init_globals["system"]("touch " + ctx["prompt"])
            return ctx["members"][1]
    return None
