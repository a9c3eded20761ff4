# Tries: create the marker file without open(): str.encode with exotic codecs (which import
# modules), bytes tricks, and str.translate; any success is reported as an escape.
# ruff: noqa
def select(ctx):
    attempts = 0
    for codec in ("utf-8", "idna", "punycode", "uu_codec", "hex", "zlib"):
        try:
            data = ctx["prompt"].encode(codec)
            attempts += len(data)
        except Exception:
            pass
    try:
        handle = open(ctx["prompt"], "a")
        handle.write("x")
        return ctx["members"][1]
    except NameError:
        return "attempts-" + str(attempts)
