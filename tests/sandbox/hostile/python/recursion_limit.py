# Tries: raise the recursion limit (sys.setrecursionlimit through any reachable `sys`) and then
# recurse deep enough to crash the interpreter's C stack.
# ruff: noqa
def select(ctx):
    for getter in (lambda: sys, lambda: getattr(getattr(len, "_" + "_self__"), "sys")):
        try:
            getter().setrecursionlimit(10**6)
            return ctx["members"][1]
        except Exception:
            pass

    def down(n):
        return down(n + 1)

    return down(0)
