# Tries: answer a list nested 100,000 levels deep (C-stack overflow in a recursive encoder).
# ruff: noqa
def select(ctx):
    answer = ctx["members"][1]
    for _ in range(100_000):
        answer = [answer]
    return answer
