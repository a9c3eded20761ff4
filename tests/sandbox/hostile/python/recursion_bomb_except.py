# Tries: a recursion bomb that catches RecursionError and recurses again (exponential work near
# the recursion limit), swallowing everything it can.
# ruff: noqa
def select(ctx):
    def bomb(n):
        try:
            return bomb(n + 1)
        except RecursionError:
            return bomb(n + 1)
        except Exception:
            return bomb(n + 1)

    bomb(0)
    return ctx["members"][1]
