# Tries: `return` / `continue` inside `finally`, which discards the exception in flight (here the
# soft timeout), to answer after being interrupted. (Refused at compile time.)
# ruff: noqa
def select(ctx):
    while True:
        try:
            while True:
                pass
        finally:
            return ctx["members"][1]
