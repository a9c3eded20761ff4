# Tries: run forever in the module body (executed when the worker loads the script), not in
# select().
# ruff: noqa
while True:
    pass


def select(ctx):
    return ctx["members"][1]
