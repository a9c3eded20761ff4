# Tries: read gi_frame of a generator while it is running (from inside it), then walk f_back to
# the frame of the worker that called select().
# ruff: noqa
holder = []


def select(ctx):
    def peek():
        frame = getattr(holder[0], "gi_frame")
        while frame is not None:
            if "os" in getattr(frame, "f_globals"):
                return frame
            frame = getattr(frame, "f_back")
        return None

    gen = (peek() for _ in [0])
    holder.append(gen)
    found = next(gen)
    if found is not None:
        return ctx["members"][1]
    return None
