# Tries: reach a traceback without underscores: e.with_traceback(), e.args, the `obj` attribute
# of AttributeError (the object the lookup failed on), then tb_frame via getattr strings.
# ruff: noqa
def select(ctx):
    try:
        getattr(1, "missing_attribute")
    except Exception as e:
        for name in ("with_traceback", "args", "obj", "tb_frame", "name"):
            try:
                if getattr(e, name) is not None:
                    return ctx["members"][1]
            except Exception:
                pass
    return "contained"  # not a member: the pool falls back
