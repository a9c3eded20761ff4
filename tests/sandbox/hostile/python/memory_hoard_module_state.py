# Tries: to starve the next script: keep 150 MiB (of the worker's 256) in module state, so that the
# next script in the same worker (another pool's) runs out of memory. The worker must be retired
# after such a call, so the benign selector that runs next finds a fresh one.
# @calls 3
HOARD = []


def select(ctx):
    if not HOARD:
        HOARD.append("x" * (150 << 20))
    return {"hoarded": len(HOARD), "member": ctx["members"][1]}
