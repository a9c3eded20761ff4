# Tries: int() of a million-digit string (quadratic C conversion; CVE-2020-10735).
# ruff: noqa
def select(ctx):
    value = int("9" * 10**6)
    return ctx["members"][1] if value else None
