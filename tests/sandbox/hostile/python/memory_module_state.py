# Tries: keep a growing hog in module-level state so that memory stays taken between calls and
# starves the worker (and the next selector).
# ruff: noqa
HOG = []


def select(ctx):
    while True:
        HOG.append("x" * 10**6)
