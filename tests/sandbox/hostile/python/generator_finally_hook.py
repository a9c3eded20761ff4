# Tries: a generator function whose `finally` runs when the suspended generator is garbage
# collected, i.e. after select() returned and the soft timeout was disarmed. (Refused: no yield.)
# ruff: noqa
def spin():
    try:
        yield 1
    finally:
        while True:
            pass


def select(ctx):
    gen = spin()
    next(gen)
    return ctx["members"][1]
