# Tries: print megabytes in a loop, hoping the output reaches the worker's stdout and breaks the
# protocol (or fills memory).
# ruff: noqa
def select(ctx):
    chunk = "x" * 100_000 + "\n" + '{"id": 1, "ok": true, "value": "' + ctx["members"][1] + '"}'
    while True:
        print(chunk)
