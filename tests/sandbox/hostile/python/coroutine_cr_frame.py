# Tries: an async function's coroutine object, whose cr_frame leads to frames and globals.
# (Refused at compile time: async code is not allowed.)
# ruff: noqa
async def helper():
    return 1


def select(ctx):
    coro = helper()
    frame = coro.cr_frame
    if frame.f_globals:
        return ctx["members"][1]
    return None
