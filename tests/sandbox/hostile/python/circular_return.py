# Tries: answer a list that contains itself (infinite recursion in a naive encoder).
# ruff: noqa
def select(ctx):
    answer = [ctx["members"][1]]
    answer.append(answer)
    return answer
