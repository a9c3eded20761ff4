# Tries: answer a 50 MB string to flood the pipe to the parent and its memory.
# ruff: noqa
def select(ctx):
    return ctx["members"][1] + "x" * 50_000_000
