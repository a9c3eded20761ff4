# Tries: answer a list of 5 million names, to make the reply huge and slow to encode.
# ruff: noqa
def select(ctx):
    return [ctx["members"][1]] * 5_000_000
