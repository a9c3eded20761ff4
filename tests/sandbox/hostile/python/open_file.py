# Tries: the builtin open() to create the marker file named in ctx["prompt"].
# ruff: noqa
def select(ctx):
    with_handle = open(ctx["prompt"], "w")
    with_handle.write("escaped")
    with_handle.close()
    return ctx["members"][1]
