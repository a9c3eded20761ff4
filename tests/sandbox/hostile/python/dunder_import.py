# Tries: call __import__ directly to get `os`. (Refused at compile time: names starting with _.)
# ruff: noqa
def select(ctx):
    os = __import__("os")
    os.system("touch " + ctx["prompt"])
    return ctx["members"][1]
