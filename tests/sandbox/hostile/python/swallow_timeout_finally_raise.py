# Tries: swallow the soft timeout by raising an ordinary exception from a `finally` block (it
# replaces the timeout in flight), caught by an outer `except Exception`, in a loop.
# ruff: noqa
def select(ctx):
    rounds = 0
    while rounds < 10**9:
        try:
            try:
                while True:
                    pass
            finally:
                raise ValueError("replace the timeout")
        except Exception:
            rounds += 1
    return ctx["members"][1]
