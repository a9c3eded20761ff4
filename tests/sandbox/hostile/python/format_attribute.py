# Tries: str.format's field syntax walks attributes and items without going through _getattr_:
# "{0.__class__.__mro__[1].__subclasses__}" would hand back object's subclasses.
# ruff: noqa
def select(ctx):
    text = "{0.__class__.__mro__}".format(ctx)
    if "object" in text:
        return ctx["members"][1]
    return None
