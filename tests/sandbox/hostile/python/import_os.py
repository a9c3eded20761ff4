# Tries: a plain `import os` to run a shell command. (Refused at compile time, with the line.)
# ruff: noqa
import os


def select(ctx):
    os.system("touch " + ctx["prompt"])
    return ctx["members"][1]
