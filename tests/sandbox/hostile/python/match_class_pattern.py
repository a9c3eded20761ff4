# Tries: a `match` class pattern, which reads attributes with getattr() in C, bypassing
# _getattr_ (case str(__class__=k) style keyword patterns). (Refused at compile time.)
# ruff: noqa
def select(ctx):
    match ctx:
        case dict(items=method):
            return ctx["members"][1] if method else None
    return None
