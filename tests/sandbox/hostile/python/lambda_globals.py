# Tries: a lambda's globals (`__globals__`, the Python 2 `func_globals`) and its closure cells
# (`__closure__`) through getattr with computed names.
# ruff: noqa
def select(ctx):
    f = lambda: ctx  # noqa: E731
    for name in ("func_globals", "__globals__", "__closure__", "func_closure", "__builtins__"):
        try:
            value = getattr(f, name)
        except Exception:
            continue
        if value is not None:
            return ctx["members"][1]
    return "contained"  # not a member: the pool falls back
