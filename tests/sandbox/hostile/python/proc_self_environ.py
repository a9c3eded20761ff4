# Tries: read /proc/self/environ (the worker's environment) and return it so the secret leaks in
# the answer or in an error message.
# ruff: noqa
def select(ctx):
    text = open("/proc/self/environ").read()
    return [ctx["members"][1], text]
