# Tries: name BaseException / KeyboardInterrupt / SystemExit / GeneratorExit to catch the soft
# timeout (they are not in the builtins: NameError when the except clause is evaluated).
# ruff: noqa
def select(ctx):
    while True:
        try:
            while True:
                pass
        except (BaseException, KeyboardInterrupt, SystemExit, GeneratorExit):
            return ctx["members"][1]
