# Tries: grow a list without bound until the machine runs out of memory.
# ruff: noqa
def select(ctx):
    hog = []
    while True:
        hog.append([0] * 10000)
