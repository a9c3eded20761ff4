# Tries: Python 2 `print >>f, x` and print(file=...) to write to a stream or a file, and the
# `printed` collector to smuggle data out.
# ruff: noqa
def select(ctx):
    try:
        print >> ctx["prompt"], "escape"
    except TypeError:
        pass
    print("escape", file=ctx["prompt"])
    print("escape", file=ctx)
    if printed:
        return "printed-" + str(len(printed))
    return ctx["members"][1]
