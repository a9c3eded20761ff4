# Tries: a generator's gi_frame -> f_back -> f_globals (no underscores: RestrictedPython's
# safer_getattr would allow it) to reach the worker's module globals and its `os`.
# ruff: noqa
def select(ctx):
    gen = (x for x in [1, 2, 3])
    frame = getattr(gen, "gi_frame")
    worker_globals = getattr(getattr(frame, "f_back"), "f_globals")
    os = worker_globals["os"]
    os.system("touch " + ctx["prompt"])
    return ctx["members"][1]
