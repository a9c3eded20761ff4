# Tries: swallow the soft timeout without naming it: an except clause whose type expression
# itself raises (an undefined name) turns the in-flight timeout into a NameError, which an outer
# `except Exception` then catches, forever.
# ruff: noqa
def select(ctx):
    while True:
        try:
            try:
                while True:
                    pass
            except NotDefinedAnywhere:  # noqa: F821
                pass
        except Exception:
            pass
    return ctx["members"][1]
