# Tries: vars(), globals(), locals(), dir() to get at the namespace and its __builtins__.
# ruff: noqa
def select(ctx):
    for probe in (lambda: globals(), lambda: vars(), lambda: locals(), lambda: dir(ctx)):
        try:
            space = probe()
        except NameError:
            continue
        if space:
            return ctx["members"][1]
    return "contained"  # not a member: the pool falls back
