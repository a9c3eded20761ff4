# Tries: %-formatting with a mapping key that names an attribute ("%(__class__)s"), and %r of a
# function to leak its globals. %-formatting only looks keys up in the dict: it cannot walk.
# ruff: noqa
def select(ctx):
    try:
        text = "%(__globals__)s" % select
    except Exception:
        text = "%(__class__)s" % {"__class__": "nothing"}
    if "builtins" in text or "os" in "%r" % (select,) and "environ" in text:
        return ctx["members"][1]
    return "not-a-member"
