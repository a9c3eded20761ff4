# Tries: exec/eval/compile reached by other names (exec(...) and eval(...) calls are refused at
# compile time, so this aliases them first).
# ruff: noqa
def select(ctx):
    for name in ("exec", "eval", "compile"):
        try:
            fn = {"exec": exec, "eval": eval, "compile": compile}[name]
        except NameError:
            continue
        fn("open(" + repr(ctx["prompt"]) + ", 'w')")
        return ctx["members"][1]
    return "contained"  # not a member: the pool falls back
