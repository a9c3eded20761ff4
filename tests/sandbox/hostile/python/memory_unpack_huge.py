# Tries: starred unpacking of a billion-item range (materialises every item).
# ruff: noqa
def select(ctx):
    first, *rest = range(10**9)
    return ctx["members"][1] if rest else None
