# Tries: nested lists [[0] * 10**4 for ...] * 10**4 - hundreds of MB in one expression.
# ruff: noqa
def select(ctx):
    grid = [[0] * 10**4 for _ in range(10**4)]
    return ctx["members"][1] if grid else None
