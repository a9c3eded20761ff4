# Tries: an infinite loop inside `finally`, so that when the soft timeout unwinds the body the
# cleanup keeps burning CPU (each new tick must interrupt it again).
# ruff: noqa
def select(ctx):
    try:
        while True:
            pass
    finally:
        n = 0
        while True:
            n += 1
