# Tries: the unbound method str.format (reached through the type, not an instance), and
# getattr("", "format"), to walk attributes in a format string.
# ruff: noqa
def select(ctx):
    for fmt in (getattr(str, "format"), getattr("", "format")):
        text = fmt("{0.__class__.__base__}", ctx)
        if "object" in text:
            return ctx["members"][1]
    return None
