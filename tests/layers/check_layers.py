"""The layering rule, checked: lower layers never include higher ones.

Every header under include/greenlight/ belongs to one layer, named in
LAYERS; every source folder under services/ is a layer or a program. A file
may include headers of its own layer and of the layers below it only.
Prints each offending include and exits 1 if there is one."""
import os
import re
import sys

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Lowest first. A layer may use the layers before it in this list.
LAYERS = ["shell", "codec", "runtime", "programs"]
# Codec and runtime sit side by side: neither uses the other (a processor
# hands the runtime its decode hook); programs use both.
SIBLINGS = {("runtime", "codec"), ("codec", "runtime")}
HEADERS = {
    "shell": {"gl_error.h", "gl_version.h", "gl_man.h", "gl_log.h", "gl_config.h", "gl_metrics.h", "gl_http.h", "gl_kafka.h",
              "gl_shell.h"},
    "codec": {"gl_codec.h", "gl_json.h", "v1/greenlight.pb-c.h", "v1/state.pb-c.h"},
    "runtime": {"gl_engine.h", "gl_store.h"},
}
FOLDERS = {"shell": "shell", "codec": "codec", "runtime": "runtime"}


def layer_of_header(name):
    for layer, names in HEADERS.items():
        if name in names:
            return layer
    return None


def allowed(user, used):
    if (user, used) in SIBLINGS:
        return False
    return LAYERS.index(used) <= LAYERS.index(user)


def check_file(path, user, problems):
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r'\s*#\s*include\s+"greenlight/([^"]+)"', line)
            if not m:
                continue
            used = layer_of_header(m.group(1))
            rel = os.path.relpath(path, SRC)
            if used is None:
                problems.append(f"{rel}:{n}: greenlight/{m.group(1)} belongs to no layer (add it to HEADERS)")
            elif not allowed(user, used):
                problems.append(f"{rel}:{n}: the {user} layer includes greenlight/{m.group(1)} "
                                f"of the {used} layer")


def main():
    problems = []
    inc = os.path.join(SRC, "include", "greenlight")
    for name in sorted(os.listdir(inc)):
        if name.endswith(".h"):
            user = layer_of_header(name)
            if user is None:
                problems.append(f"include/greenlight/{name}: belongs to no layer (add it to HEADERS)")
                continue
            check_file(os.path.join(inc, name), user, problems)
    services = os.path.join(SRC, "services")
    for folder in sorted(os.listdir(services)):
        d = os.path.join(services, folder)
        if not os.path.isdir(d):
            continue
        user = FOLDERS.get(folder, "programs")
        for name in sorted(os.listdir(d)):
            if name.endswith((".c", ".h")):
                check_file(os.path.join(d, name), user, problems)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} offending includes")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
