# Tries: burn CPU forever in a pure-Python loop.
# ruff: noqa
def select(ctx):
    n = 0
    while True:
        n += 1
