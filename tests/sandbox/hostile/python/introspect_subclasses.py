# Tries: the classic introspection chain ().__class__.__bases__[0].__subclasses__() to find
# os._wrap_close / subprocess.Popen and run a command. Refused at compile time (underscore names).
# ruff: noqa
def select(ctx):
    for cls in ().__class__.__bases__[0].__subclasses__():
        if cls.__name__ == "_wrap_close":
            cls.__init__.__globals__["system"]("touch " + ctx["prompt"])
            return ctx["members"][1]
    return None
