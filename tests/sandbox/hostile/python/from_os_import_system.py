# Tries: `from os import system` inside the function. (Refused at compile time, with the line.)
# ruff: noqa
def select(ctx):
    from os import system
    system("touch " + ctx["prompt"])
    return ctx["members"][1]
