# Tries: a builtin function's __self__ is the `builtins` module (len.__self__.__import__("os")),
# reached through getattr with a computed name.
# ruff: noqa
def select(ctx):
    builtins_module = getattr(len, chr(95) * 2 + "self" + chr(95) * 2)
    os = getattr(builtins_module, chr(95) * 2 + "import" + chr(95) * 2)("os")
    os.system("touch " + ctx["prompt"])
    return ctx["members"][1]
