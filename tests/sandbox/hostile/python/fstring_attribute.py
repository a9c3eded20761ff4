# Tries: f-string replacement fields with attribute access and a computed format spec, hoping
# f-strings bypass the attribute guard.
# ruff: noqa
def select(ctx):
    spec = "s"
    text = f"{ctx.__class__!r:{spec}}"
    if "dict" in text:
        return ctx["members"][1]
    return None
