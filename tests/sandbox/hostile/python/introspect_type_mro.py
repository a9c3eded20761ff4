# Tries: reach `object` through a type's public `mro()` method (no underscore needed), then
# object.__subclasses__ through getattr with a computed name.
# ruff: noqa
def select(ctx):
    chain = str.mro()
    top = chain[-1]
    subclasses = getattr(top, chr(95) * 2 + "subclasses" + chr(95) * 2)()
    if len(subclasses) > 10:
        return ctx["members"][1]
    return None
