# Tries: double a string until memory runs out (exponential growth: 2**k bytes).
# ruff: noqa
def select(ctx):
    s = "ab"
    while True:
        s = s + s
