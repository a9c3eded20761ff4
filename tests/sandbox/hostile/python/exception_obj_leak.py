# Tries: an AttributeError raised by the guarded getattr, hoping its `obj`/`name` attributes or
# its message carry a worker object; also subscripting a type (list[int] -> GenericAlias).
# ruff: noqa
def select(ctx):
    try:
        alias = list[int]
        return ctx["members"][1] if alias else None
    except TypeError:
        pass
    try:
        getattr(select, "f_globals")
    except AttributeError as err:
        message = str(err)
        if "worker" in message or "os" in message.split():
            return ctx["members"][1]
        return message
    return None
