"""What the executables say about themselves, and the settings they share,
without a broker: each CLI command's --help (its own text, examples and its
rows of the one exit-code table), the daemons' --help (environment, exit
codes), the man pages the build generated (rendered by man without a
warning, equal to --help-man now), the bash completion (loaded in bash,
every option it offers documented in the command's --help), and the
settings: the same keys and variables for the CLI and the daemons,
--check-config showing the bootstrap servers, unknown GREENLIGHT_*
variables reported, a key set twice in a config file refused.

Usage: test_cli_docs.py BUILD_DIR"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BUILD = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("GL_BUILD_DIR", "build")
CLI = os.path.join(BUILD, "services", "cli", "greenlight")
DAEMONS = {d: os.path.join(BUILD, "services", d, f"greenlight-{d}")
           for d in ("orderd", "batchd", "clockd", "pipe")}
COMMANDS = ["produce", "tail", "show", "replay", "dlq", "topics", "rebuild", "reset"]
FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}", file=sys.stderr)


def clean_env(**extra):
    """The environment without GREENLIGHT_* variables, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLIGHT_")}
    env.update(extra)
    return env


def run(cmd, env=None, timeout=30):
    r = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env or clean_env())
    err = r.stderr.decode(errors="replace")
    check(not any(m in err for m in ("Sanitizer", "runtime error:")),
          f"{cmd}: a sanitizer report:\n{err[-3000:]}")
    return r.returncode, r.stdout.decode(errors="replace"), err


def exit_rows(text):
    """{code: meaning} of the 'Exit codes:' block of a help text."""
    block = text.split("Exit codes")[1].split("\n\n")[0]
    rows, code = {}, None
    for line in block.splitlines()[1:]:
        m = re.match(r"  (\d)  (.*)", line)
        if m:
            code = int(m.group(1))
            rows[code] = m.group(2)
        elif code is not None and line.startswith("     "):
            rows[code] += " " + line.strip()
    return rows


def test_command_help():
    code, usage, _ = run([CLI, "help"])
    check(code == 0, f"greenlight help: exit {code}")
    table = usage.split("Exit codes (one table for every command):\n")[1]
    for cmd in COMMANDS:
        code, out, err = run([CLI, cmd, "--help"])
        code2, out2, _ = run([CLI, "help", cmd])
        check(code == 0 and code2 == 0 and out == out2, f"{cmd} --help / help {cmd}: {code} {code2}")
        check(out.startswith(f"usage: greenlight {cmd} ") and out.count("usage:") == 1,
              f"{cmd} --help is not {cmd}'s alone: {out[:200]!r}")
        others = [o for o in COMMANDS if o != cmd and f"\ngreenlight {o} " in "\n" + out.split("\n\n")[0]]
        check(not others, f"{cmd} --help shows the synopsis of {others}")
        check("\nExamples:\n  greenlight " + cmd in out, f"{cmd} --help has no example of {cmd}")
        rows = exit_rows(out)
        check({0, 1, 2} <= set(rows), f"{cmd} --help: exit codes {sorted(rows)}")
        for c, meaning in rows.items():
            # Every row comes from the one table: the general row or the command's own.
            flat = " ".join(table.split())
            check(f"{c} {meaning}" in flat or f"{c} {cmd}: {meaning}" in flat,
                  f"{cmd} --help: exit {c} '{meaning}' is not in greenlight help's table")
    check(exit_rows(run([CLI, "rebuild", "--help"])[1]).get(4, "").startswith("the rebuild could not"),
          "rebuild --help lacks its exit 4")
    check(3 in exit_rows(run([CLI, "show", "--help"])[1]), "show --help lacks its exit 3")
    check(3 not in exit_rows(run([CLI, "produce", "--help"])[1]), "produce --help lists exit 3")
    code, _, err = run([CLI, "help", "nope"])
    check(code == 2 and "unknown command 'nope'" in err, f"help nope: exit {code}, {err}")


def test_daemon_help():
    for name, exe in DAEMONS.items():
        code, out, _ = run([exe, "--help"])
        check(code == 0 and "GREENLIGHT_CONFIG" in out and "GREENLIGHT_KAFKA_<PROPERTY>" in out,
              f"{name} --help: exit {code}, no environment section")
        rows = exit_rows(out)
        check(sorted(rows) == [0, 1, 2] and "bad setting" in rows[2],
              f"{name} --help exit codes: {rows}")
        check(f"greenlight-{name} --check-config" in out and "--help-man" in out,
              f"{name} --help: no synopsis of --check-config/--help-man")


def test_man_pages():
    man = shutil.which("man")
    check(man is not None, "no man(1): deploy/local/setup.sh installs man-db")
    pages = {"greenlight": CLI, **{f"greenlight-{d}": exe for d, exe in DAEMONS.items()}}
    for name, exe in pages.items():
        path = os.path.join(BUILD, "man", f"{name}.1")
        check(os.path.isfile(path), f"the build made no {path}")
        if not os.path.isfile(path) or man is None:
            continue
        with open(path) as f:
            built = f.read()
        code, now, _ = run([exe, "--help-man"])
        check(code == 0 and now == built, f"{path} differs from {name} --help-man (rebuild?)")
        r = subprocess.run([man, "--warnings=all", "-l", path], capture_output=True, timeout=60,
                           env=clean_env(MANWIDTH="80", GROFF_NO_SGR="1"))
        warn = r.stderr.decode(errors="replace")
        # Bold and underline as overstrikes (a pipe, not a terminal), removed.
        text = re.sub(r".\x08", "", r.stdout.decode(errors="replace"))
        check(r.returncode == 0 and not warn.strip(), f"man -l {path}: exit {r.returncode}: {warn}")
        for heading in ("NAME", "SYNOPSIS", "EXIT STATUS"):
            check(f"\n{heading}\n" in text, f"man {name}: no {heading} section")
        check(name in text.split("\nNAME\n")[1][:200], f"man {name}: NAME does not name it")
    code, text, _ = run([CLI, "--help-man"])
    for cmd in COMMANDS:
        check(f'.SS "greenlight {cmd}"' in text, f"man greenlight: no section for {cmd}")


def complete(script, words):
    """The completions bash offers for words (the last one being typed)."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    prog = (f"source '{script}'\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
            "COMPREPLY=(); _greenlight; printf '%s\\n' \"${COMPREPLY[@]}\"\n"
            "complete -p greenlight >&2\n")
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", prog], capture_output=True,
                       timeout=30)
    check(r.returncode == 0 and b"_greenlight" in r.stderr,
          f"completion for {words}: bash exit {r.returncode}: {r.stderr.decode()}")
    return [l for l in r.stdout.decode().splitlines() if l]


def test_completion():
    script = os.path.join(BUILD, "completion", "greenlight")
    check(os.path.isfile(script), f"the build made no {script}")
    if not os.path.isfile(script):
        return
    with open(script) as f:
        check(f.read() == run([CLI, "completion", "bash"])[1], f"{script} differs from the CLI's")
    check(complete(script, ["greenlight", "ta"]) == ["tail"], "greenlight ta<TAB>")
    check(sorted(complete(script, ["greenlight", "re"])) == ["rebuild", "replay", "reset"],
          "greenlight re<TAB>")
    check(sorted(complete(script, ["greenlight", "tail", "--fr"])) == ["--from", "--from-beginning"],
          "greenlight tail --fr<TAB>")
    check(complete(script, ["greenlight", "dlq", ""]) == ["summary", "list", "redrive"],
          "greenlight dlq <TAB>")
    check(complete(script, ["greenlight", "reset", "--to-t"]) == ["--to-time"],
          "greenlight reset --to-t<TAB>")
    check(complete(script, ["greenlight", "tail", "--count", "--"]) == [],
          "a value is not completed as an option")
    with tempfile.TemporaryDirectory() as tmp:
        open(os.path.join(tmp, "orders.jsonl"), "w").close()
        check(complete(script, ["greenlight", "produce", "--file", tmp + "/ord"]) ==
              [tmp + "/orders.jsonl"], "greenlight produce --file <TAB> offers files")
    # Checked against the tables: every option offered is in the command's --help.
    for cmd in COMMANDS:
        offered = [o for o in complete(script, ["greenlight", cmd, "--"]) if o.startswith("--")]
        check(len(offered) >= 5, f"{cmd}: offered {offered}")
        helptext = run([CLI, cmd, "--help"])[1]
        missing = [o for o in offered if not re.search(re.escape(o) + r"(?![\w.-])", helptext)]
        check(not missing, f"{cmd}: options {missing} are parsed but not in its --help")


def settings(lines):
    return dict(l.split(" = ", 1) for l in lines.splitlines() if " = " in l)


def test_same_settings():
    """The CLI and orderd read the same keys and variables into the same values."""
    env = clean_env(GREENLIGHT_TOPIC_PREFIX="staging.", GREENLIGHT_KAFKA_CLIENT_RACK="r1",
                    GREENLIGHT_BOOTSTRAP="short:1")
    flags = ["-X", "kafka.linger.ms=7"]
    code, cli, _ = run([CLI, "config", *flags], env=env)
    code2, daemon, _ = run([DAEMONS["orderd"], "--check-config", *flags], env=env)
    c, d = settings(cli), settings(daemon)
    check(code == 0 and code2 == 0, f"config: exit {code}, orderd --check-config: exit {code2}")
    for key, want in (("kafka.bootstrap.servers", "short:1"), ("topic.prefix", "staging."),
                      ("kafka.client.rack", "r1"), ("kafka.linger.ms", "7")):
        check(c.get(key) == want and d.get(key) == want,
              f"{key}: CLI {c.get(key)!r}, orderd {d.get(key)!r}, want {want!r}")
    # The long variable wins over the short one; flags win over both; the
    # daemons' flag names work for the CLI.
    env["GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS"] = "long:1"
    for args in ([CLI, "config"], [DAEMONS["orderd"], "--check-config"]):
        check(settings(run(args, env=env)[1]).get("kafka.bootstrap.servers") == "long:1",
              f"{args[0]}: GREENLIGHT_KAFKA_BOOTSTRAP_SERVERS does not win")
        out = run([*args, "-b", "flag:1", "--topic.prefix=p.", "-X", "kafka.linger.ms=9"], env=env)[1]
        s = settings(out)
        check((s.get("kafka.bootstrap.servers"), s.get("topic.prefix"), s.get("kafka.linger.ms")) ==
              ("flag:1", "p.", "9"), f"{args[0]}: flags do not win: {s}")
    out = run([CLI, "config", "--kafka.bootstrap.servers", "k:2", "-X", "linger.ms=3"])[1]
    check(settings(out).get("kafka.bootstrap.servers") == "k:2" and
          settings(out).get("kafka.linger.ms") == "3", f"CLI daemon-style flags: {out}")
    # Secrets are hidden by both.
    env = clean_env(GREENLIGHT_KAFKA_SASL_PASSWORD="hunter2")
    for args in ([CLI, "config"], [DAEMONS["orderd"], "--check-config"]):
        out = run(args, env=env)[1]
        check("hunter2" not in out and "kafka.sasl.password = (secret)" in out, f"{args[0]}: {out}")


def test_check_config_bootstrap():
    for name, exe in DAEMONS.items():
        code, out, _ = run([exe, "--check-config"])
        check(code == 0 and "\nkafka.bootstrap.servers = 127.0.0.1:19092\n" in out,
              f"{name} --check-config: exit {code}, no default bootstrap: {out[-300:]}")
    code, out, _ = run([CLI, "config"])
    check(code == 0 and out.startswith("topic.prefix = \nkafka.bootstrap.servers = 127.0.0.1:19092\n"),
          f"greenlight config: exit {code}: {out}")


def test_unknown_env_reported():
    env = clean_env(GREENLIGHT_TOPIC_PREFX="typo.", GREENLIGHT_BROKER_PORT="19092",
                    GREENLIGHT_CLI="/bin/true")
    for args in ([CLI, "config"], [DAEMONS["orderd"], "--check-config"]):
        code, out, err = run(args, env=env)
        check(code == 0 and "GREENLIGHT_TOPIC_PREFX" in err and "warning" in err,
              f"{args[0]}: GREENLIGHT_TOPIC_PREFX not reported: exit {code}, {err}")
        check("GREENLIGHT_BROKER_PORT" not in err and "GREENLIGHT_CLI" not in err,
              f"{args[0]}: a tools' variable reported: {err}")
    # A bad value of a variable the CLI reads is a bad setting (exit 2), as for a daemon.
    env = clean_env(GREENLIGHT_KAFKA_NO_SUCH_PROPERTY="1")
    for args in ([CLI, "tail", "T", "--timeout-ms", "1000"], [DAEMONS["orderd"], "--check-config"]):
        code, _, err = run(args, env=env)
        check(code == 2 and "kafka.no.such.property" in err, f"{args[0]}: exit {code}: {err}")


def test_duplicate_key_refused():
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("log.level = info\nhttp.port = 0\n\nlog.level = warn\n")
        f.flush()
        for exe in (DAEMONS["orderd"], DAEMONS["clockd"]):
            code, _, err = run([exe, "--config", f.name, "--check-config"])
            check(code == 2 and f"{f.name} line 4: log.level = 'warn': set again (first on line 1)" in err,
                  f"{exe}: duplicated key: exit {code}, {err}")
        code, _, err = run([CLI, "rebuild", "orderd", "--config", f.name])
        check(code == 2 and "set again" in err, f"rebuild --config with a duplicated key: {code} {err}")


def main():
    test_command_help()
    test_daemon_help()
    test_man_pages()
    test_completion()
    test_same_settings()
    test_check_config_bootstrap()
    test_unknown_env_reported()
    test_duplicate_key_refused()
    print(f"cli docs: {len(FAILURES)} failures")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
