# Tries: catch an exception and walk e.__traceback__.tb_frame.f_back.f_globals to the worker.
# ruff: noqa
def select(ctx):
    try:
        1 / 0
    except ZeroDivisionError as e:
        frame = e.__traceback__.tb_frame
        if frame.f_back.f_globals:
            return ctx["members"][1]
    return None
