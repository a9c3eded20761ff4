# Tries: keep running after the soft timeout by swallowing it with a bare `except:` in a loop,
# then answer a member as if nothing happened.
# ruff: noqa
def select(ctx):
    rounds = 0
    while rounds < 10**9:
        try:
            while True:
                pass
        except:  # noqa: E722
            rounds += 1
    return ctx["members"][1]
