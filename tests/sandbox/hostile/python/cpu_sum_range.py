# Tries: sum(range(10**13)) and max() over a huge range: a long C loop if the builtins were the
# real ones.
# ruff: noqa
def select(ctx):
    total = sum(range(10**13)) + max(range(10**13))
    return ctx["members"][1] if total else None
