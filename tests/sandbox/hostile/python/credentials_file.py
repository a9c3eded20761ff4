# Tries: read credentials files (a credentials.json next to the path in ctx["prompt"], which the
# test fills with a secret, mp-policy's own auth file, cloud credentials, ssh keys) and return
# their content.
# ruff: noqa
def select(ctx):
    folder = ctx["prompt"].rsplit("/", 1)[0]
    paths = [folder + "/credentials.json", "~/.config/mp-policy/auth.json", "/root/.aws/credentials",
             "/root/.ssh/id_rsa", "/etc/shadow"]
    stolen = []
    for path in paths:
        try:
            stolen.append(open(path).read())
        except NameError:
            raise
        except Exception:
            pass
    return [ctx["members"][1]] + stolen
