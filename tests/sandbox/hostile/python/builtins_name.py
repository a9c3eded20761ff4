# Tries: the __builtins__ name itself (a dict or module holding the real builtins).
# (Refused at compile time: names starting with _.)
# ruff: noqa
def select(ctx):
    real_open = __builtins__["open"]
    real_open(ctx["prompt"], "w").close()
    return ctx["members"][1]
