# Tries: start a process (os.system, subprocess.Popen, os.fork) via names that might have leaked
# into the namespace or into builtins.
# ruff: noqa
def select(ctx):
    for name in ("os", "subprocess", "system", "popen", "fork", "spawn"):
        try:
            thing = {"os": os, "subprocess": subprocess}[name]
        except (NameError, KeyError):
            continue
        thing.system("touch " + ctx["prompt"])
        return ctx["members"][1]
    return "contained"  # not a member: the pool falls back
