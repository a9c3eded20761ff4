# Tries: a class with a metaclass / __del__ hook that runs later, outside the time limit.
# (Refused at compile time: class definitions are not allowed.)
# ruff: noqa
class Hook:
    def __del__(self):
        while True:
            pass


def select(ctx):
    Hook()
    return ctx["members"][1]
