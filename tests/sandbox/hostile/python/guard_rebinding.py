# Tries: rebind RestrictedPython's guard names (_getattr_) through `global`, then read dunders.
# (Refused at compile time.)
# ruff: noqa
def select(ctx):
    global _getattr_
    _getattr_ = lambda obj, name: 0  # noqa: E731
    return ctx.__class__ and ctx["members"][1]
