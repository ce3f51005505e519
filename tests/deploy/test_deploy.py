"""The deployment files are accepted by the daemons they configure.

For deploy/config/*.conf, the systemd units and the Kubernetes manifests,
this runs each daemon exactly as the file would start it (paths mapped into
this tree and this build) with --check-config, which validates every
setting, tries the librdkafka pass-through and prints the effective
settings without connecting anywhere. It checks that:
- every setting a file writes is taken, with its value;
- a unit's RestartPreventExitStatus is the exit status a bad setting gives;
- a pod's instance.id is its name, its HTTP port listens beyond loopback on
  the port its container and probe declare, and it mounts the config map
  where its command reads the config;
- a config or policy path that is not a regular file, a file with a NUL
  byte and an http.host the daemon could not bind stop it with exit 2 and
  the key, the value and what was expected, at once (a FIFO never blocks),
  said in exactly one JSON log line on stderr (event "config");
- the units are Type=notify with a watchdog, and systemd-analyze verify
  accepts them when it is installed;
- the pods carry the Prometheus scrape annotations of their metrics port.
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.dont_write_bytecode = True  # No __pycache__ in the source tree.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka"))
from harness import host_is_local  # noqa: E402

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("GL_BUILD_DIR", os.path.join(SRC, "build"))
DEPLOY = os.path.join(SRC, "deploy")
CONFIG = os.path.join(DEPLOY, "config")
DAEMONS = ("orderd", "batchd", "clockd")


def fail(msg):
    print(f"FAIL test_deploy.py: {msg}", file=sys.stderr)
    sys.exit(1)


def binary(path):
    """The build's binary for an installed path like /usr/local/bin/greenlight-orderd."""
    name = os.path.basename(path)
    m = re.fullmatch(r"greenlight-(\w+)", name)
    if not m or m.group(1) not in DAEMONS:
        fail(f"{path}: not a greenlight daemon")
    return os.path.join(BUILD, "services", m.group(1), name)


def local(path):
    """/etc/greenlight/X (the installed configs) as deploy/config/X."""
    return re.sub(r"^/etc/greenlight/", CONFIG + "/", path)


def check_config(argv, env, what):
    """Runs argv (installed paths) with --check-config; returns the printed settings."""
    cmd = [binary(argv[0])] + [local(a) for a in argv[1:]] + ["--check-config"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GREENLIGHT_")}
    # The installed policy path, as this tree has it.
    full_env["GREENLIGHT_POLICY_FILE"] = os.path.join(CONFIG, "h200.policy")
    full_env.update(env)
    if "orderd" not in cmd[0]:
        del full_env["GREENLIGHT_POLICY_FILE"]
    p = subprocess.run(cmd, env=full_env, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        fail(f"{what}: {' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    settings = {}
    for line in p.stdout.splitlines():
        k, _, v = line.partition(" = ")
        settings[k] = v
    return settings


def file_settings(path):
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                k, _, v = line.partition("=")
                out[k.strip()] = v.strip()
    return out


def test_configs():
    for d in DAEMONS:
        path = os.path.join(CONFIG, f"{d}.conf")
        want = file_settings(path)
        if not want:
            fail(f"{path}: no settings")
        got = check_config([f"/usr/local/bin/greenlight-{d}", "--config", path], {}, path)
        for k, v in want.items():
            if k == "policy.file":
                continue  # The environment points it into this tree.
            if got.get(k) != v:
                fail(f"{path}: {k} = {v!r}, but the daemon has {got.get(k)!r}")


def config_error(p, what):
    """The message of the one line a refused start writes on stderr: exactly
    one line, a JSON object at level error with event "config"."""
    lines = p.stderr.splitlines()
    if len(lines) != 1:
        fail(f"{what}: {len(lines)} lines on stderr, expected one JSON line: {p.stderr!r}")
    try:
        line = json.loads(lines[0])
    except ValueError as e:
        fail(f"{what}: stderr is not a JSON line ({e}): {lines[0]!r}")
    if line.get("level") != "error" or line.get("event") != "config":
        fail(f"{what}: expected level error, event config: {lines[0]}")
    return line.get("msg", "")


def bad_value_status(argv):
    cmd = [binary(argv[0])] + [local(a) for a in argv[1:]] + ["--http.port", "eighty"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", "")})
    if "http.port = 'eighty'" not in config_error(p, f"{argv[0]} --http.port eighty"):
        fail(f"{argv[0]}: a bad setting did not name the key: {p.stderr.strip()}")
    return p.returncode


def test_bad_policy():
    """A policy file that cannot be read stops orderd with the key and the value."""
    cmd = [binary("greenlight-orderd"), "--policy.file", "/nonexistent.policy", "--check-config"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       env={"PATH": os.environ.get("PATH", "")})
    if p.returncode != 2 or "policy.file = '/nonexistent.policy'" not in config_error(p, "policy"):
        fail(f"a missing policy file: exit {p.returncode}, {p.stderr.strip()}")


def expect_bad_setting(args, want, what):
    """Runs orderd with args; a bad setting must exit 2 within the timeout, naming want."""
    cmd = [binary("greenlight-orderd")] + args
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                           env={"PATH": os.environ.get("PATH", "")})
    except subprocess.TimeoutExpired:
        fail(f"{what}: {' '.join(cmd)} did not exit within 10 s")
    if p.returncode != 2 or want not in config_error(p, what):
        fail(f"{what}: exit {p.returncode} (want 2), stderr lacks {want!r}: {p.stderr.strip()}")


def test_bad_files_and_host():
    """Bad settings found before any connection exit 2, even from --check-config."""
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "fifo")
        os.mkfifo(fifo)
        nul = os.path.join(tmp, "nul.conf")
        with open(nul, "wb") as f:
            f.write(b"app.id = a\n# x\ninstance.id = 1\0\n")
        expect_bad_setting(["--check-config", "--config", tmp],
                           f"config: --config = '{tmp}': expected a regular file (it is a directory)",
                           "a directory as --config")
        expect_bad_setting(["--config", fifo, "--check-config"],
                           f"config: --config = '{fifo}': expected a regular file (it is a FIFO)",
                           "a FIFO as --config")
        expect_bad_setting(["--config", nul, "--check-config"],
                           f"config: {nul} line 3: contains a NUL byte", "a NUL byte in the config")
        # No --check-config: a real start must not block on the FIFO either.
        expect_bad_setting(["--policy.file", fifo, "-b", "127.0.0.1:1"],
                           f"config: policy.file = '{fifo}': expected a regular file (it is a FIFO)",
                           "a FIFO as policy.file")
    # Bytes that are not UTF-8 in a value are escaped in the log line, which stays UTF-8.
    expect_bad_setting(["--http.port", b"8\xff", "--check-config"],
                       "config: http.port = '8\\xff'", "a value that is not UTF-8")
    # Outputs are named: a count or a name that does not fit the daemon's
    # outputs (status, repartition) is a bad setting, judged by --check-config too.
    want = "config: output.topics = '%s': expected 2 topics, one per output (status, repartition)"
    for bad in ("only-one", "status=a,status=b", "status=a,nosuch=b", "a,b,c"):
        for extra in (["--check-config"], ["-b", "127.0.0.1:1"]):
            expect_bad_setting(["--output.topics", bad, *extra], want % bad,
                               f"output.topics {bad} {' '.join(extra)}")
    got = check_config(["greenlight-orderd", "--output.topics", "repartition=r,status=s"], {},
                       "outputs by name in any order")
    if got.get("output.topics") != "repartition=r,status=s":
        fail(f"outputs by name: --check-config shows output.topics = {got.get('output.topics')!r}")
    if host_is_local("10.255.255.1"):
        print("test_deploy.py: 10.255.255.1 is local here; http.host check skipped")
        return
    for args in (["--http.host=10.255.255.1", "--check-config"], ["--http.host=10.255.255.1"]):
        expect_bad_setting(args, "config: http.host = '10.255.255.1': expected an address of this "
                           "machine (bind: address not available)", f"orderd {' '.join(args)}")
    expect_bad_setting(["--http.host", "nonsense", "--check-config"],
                       "config: http.host = 'nonsense': expected an address of this machine",
                       "an http.host that is no address")


def test_systemd():
    units = sorted(f for f in os.listdir(os.path.join(DEPLOY, "systemd")) if f.endswith(".service"))
    if sorted(units) != ["greenlight-batchd@.service", "greenlight-clockd.service",
                         "greenlight-orderd@.service"]:
        fail(f"unexpected units {units}")
    for u in units:
        path = os.path.join(DEPLOY, "systemd", u)
        keys = {}
        with open(path) as f:
            for line in f:
                if "=" in line and not line.startswith("#"):
                    k, _, v = line.strip().partition("=")
                    keys.setdefault(k, []).append(v)
        argv = shlex.split(keys["ExecStart"][0].replace("%i", "7"))
        got = check_config(argv, {}, path)
        if "@" in u and got.get("instance.id") != "7":
            fail(f"{u}: instance %i does not become instance.id: {got.get('instance.id')}")
        for ef in keys.get("EnvironmentFile", []):
            if not ef.lstrip("-").startswith("/etc/greenlight/") or not ef.startswith("-"):
                fail(f"{u}: EnvironmentFile {ef} should be optional and under /etc/greenlight")
        want = int(keys["RestartPreventExitStatus"][0])
        status = bad_value_status(argv)
        if status != want:
            fail(f"{u}: a bad setting exits {status}, RestartPreventExitStatus is {want}")
        if keys.get("KillSignal") != ["SIGTERM"] or keys.get("Restart") != ["on-failure"]:
            fail(f"{u}: expected KillSignal=SIGTERM and Restart=on-failure")
        # The daemons speak sd_notify (gl_notify.c): READY, STATUS, WATCHDOG.
        if keys.get("Type") != ["notify"] or keys.get("NotifyAccess") != ["main"]:
            fail(f"{u}: expected Type=notify and NotifyAccess=main, got {keys.get('Type')}")
        watchdog = keys.get("WatchdogSec", ["0"])[0]
        if not watchdog.isdigit() or int(watchdog) < 2:
            fail(f"{u}: expected WatchdogSec of at least 2 s (pings every second), got {watchdog!r}")
        verify_unit(path, u, argv[0])


def verify_unit(path, unit, exe):
    """systemd-analyze verify, when installed, on the unit with its binary
    mapped into this build (and a template given an instance). It exits 0
    even for a line it ignores, so any line naming the unit fails."""
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        print(f"test_deploy.py: no systemd-analyze; {unit} checked by the keys above only")
        return
    with tempfile.TemporaryDirectory() as tmp:
        name = unit.replace("@.", "@7.")
        with open(path) as f, open(os.path.join(tmp, name), "w") as out:
            out.write(f.read().replace(exe, os.path.abspath(binary(exe))))
        p = subprocess.run([analyze, "verify", os.path.join(tmp, name)], capture_output=True,
                           text=True, timeout=60)
        said = [l for l in (p.stdout + p.stderr).splitlines() if name in l]
        if p.returncode != 0 or said:
            fail(f"{unit}: systemd-analyze verify (exit {p.returncode}): {said or p.stderr}")


def env_of(container, pod_name):
    """The container's environment as Kubernetes sets it ($(VAR) expanded)."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)),
                                    str(e["value"]))
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod_name
        else:
            fail(f"{container['name']}: env {e['name']}: unsupported source")
    return env


def test_kubernetes():
    with open(os.path.join(DEPLOY, "kubernetes", "greenlight.yaml")) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    workloads = [d for d in docs if d["kind"] in ("StatefulSet", "Deployment")]
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    if sorted(w["metadata"]["name"] for w in workloads) != [
            "greenlight-batchd", "greenlight-clockd", "greenlight-orderd"]:
        fail("expected the three daemons as workloads")
    for w in workloads:
        name = w["metadata"]["name"]
        spec = w["spec"]
        tpl = spec["template"]
        if spec["selector"]["matchLabels"] != tpl["metadata"]["labels"]:
            fail(f"{name}: selector does not match the pod labels")
        if w["kind"] == "StatefulSet":
            if spec["serviceName"] not in services:
                fail(f"{name}: no headless Service {spec['serviceName']}")
        (c,) = tpl["spec"]["containers"]
        pod = f"{name}-0"
        got = check_config(c["command"], env_of(c, pod), f"{name} container")
        if w["kind"] == "StatefulSet" and got.get("instance.id") != pod:
            fail(f"{name}: instance.id is {got.get('instance.id')!r}, not the pod name")
        if got.get("http.host") != "0.0.0.0":
            fail(f"{name}: HTTP listens on {got.get('http.host')}, not reachable by probes")
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        adv = got.get("http.advertised.url")
        if w["kind"] == "StatefulSet" and adv != f"http://{pod}.{spec['serviceName']}:{ports['http']}":
            fail(f"{name}: advertised URL {adv!r} is not the pod's name in its headless Service")
        if str(ports.get("http")) != got.get("http.port"):
            fail(f"{name}: containerPort {ports.get('http')} but http.port {got.get('http.port')}")
        if c["livenessProbe"]["httpGet"] != {"path": "/healthz", "port": "http"}:
            fail(f"{name}: the liveness probe is not /healthz on the http port")
        if c.get("readinessProbe", {}).get("httpGet") != {"path": "/readyz", "port": "http"}:
            fail(f"{name}: the readiness probe is not /readyz on the http port")
        conf_dir = os.path.dirname(c["command"][c["command"].index("--config") + 1])
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        vols = {v["name"]: v for v in tpl["spec"]["volumes"]}
        if mounts.get("config") != conf_dir or \
                vols["config"]["configMap"]["name"] != "greenlight-config":
            fail(f"{name}: the config map is not mounted at {conf_dir}")
        want = {"prometheus.io/scrape": "true", "prometheus.io/port": str(ports["http"]),
                "prometheus.io/path": "/metrics"}
        notes = tpl["metadata"].get("annotations", {})
        if {k: notes.get(k) for k in want} != want:
            fail(f"{name}: pod annotations {notes}, expected {want}")
        svc = services.get(name)
        if svc and svc["spec"]["ports"][0]["port"] != ports["http"]:
            fail(f"{name}: Service port differs from the container's")


def main():
    for d in DAEMONS:
        if not os.access(binary(f"greenlight-{d}"), os.X_OK):
            fail(f"{binary('greenlight-' + d)} not built")
    test_configs()
    test_bad_policy()
    test_bad_files_and_host()
    test_systemd()
    test_kubernetes()
    print("test_deploy.py: configs, systemd units and Kubernetes manifests accepted")


main()
