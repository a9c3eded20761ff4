# Tries: unbounded recursion to overflow the C stack and crash the worker.
# ruff: noqa
def select(ctx):
    def down(n):
        return down(n + 1) + 1

    return down(0)
