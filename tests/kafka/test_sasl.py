"""Authentication passes through: the local broker has a second listener
that requires SASL/PLAIN (deploy/local/kafka.sh). The order daemon reaches
it with `kafka.*` settings and its password in the environment
(GREENLIGHT_KAFKA_SASL_PASSWORD, never on the command line), the CLI with
-X; the seed scenario then runs as on the plain listener. The password
never shows in --check-config, and a wrong one stops nothing silently: the
daemon logs the broker's authentication error."""
from harness import *

SEED = os.path.join(SRC, "tests", "data", "seed.jsonl")
EXPECTED = os.path.join(SRC, "tests", "data", "seed.expected")
SASL = "127.0.0.1:" + os.environ.get("GREENLIGHT_BROKER_SASL_PORT", "19094")
PASSWORD = os.environ.get("GREENLIGHT_BROKER_SASL_PASSWORD", "greenlight-local")
SETTINGS = ["-X", "kafka.security.protocol=SASL_PLAINTEXT", "-X", "kafka.sasl.mechanisms=PLAIN",
            "-X", "kafka.sasl.username=greenlight"]


def main():
    with open(EXPECTED) as f:
        want = sum(len(l.split()) - 1 for l in f if l.strip())
    prefix = new_prefix("sasl")
    make_topics(prefix)

    os.environ["GREENLIGHT_KAFKA_SASL_PASSWORD"] = PASSWORD
    shown = subprocess.run([ORDERD, *SETTINGS, "--check-config"], capture_output=True, text=True,
                           timeout=30)
    check(shown.returncode == 0 and "kafka.sasl.password = (secret)" in shown.stdout and
          PASSWORD not in shown.stdout, f"--check-config shows the password: {shown.stdout}")

    d = orderd(prefix, name="orderd-sasl", extra=["-b", SASL, *SETTINGS]).start()
    r = subprocess.run([CLI, "produce", "--transactional", "-b", SASL, "--prefix", prefix,
                        "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=PLAIN",
                        "-X", "sasl.username=greenlight", "-X", f"sasl.password={PASSWORD}",
                        "--file", SEED], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, f"produce over SASL failed: {r.stderr[-2000:]}")
    recs = wait_until(lambda: (lambda rs: rs if len(rs) >= want else None)(
        tail(prefix, "greenlight.order-status")), 90, f"{want} status records over SASL")
    check(len(recs) == want, f"{len(recs)} status records, expected {want}")
    check_versions(by_order(recs))
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")
    check(PASSWORD not in d.log_text(), "the password appears in the daemon's log")

    # A wrong password: the broker's refusal is in the log, with what failed.
    os.environ["GREENLIGHT_KAFKA_SASL_PASSWORD"] = "not-the-password"
    bad = orderd(prefix, name="orderd-sasl-bad", extra=["-b", SASL, *SETTINGS]).start()
    bad.expect_exit = True
    wait_until(lambda: "authentication failed" in bad.log_text().lower(), 60,
               "the authentication failure in the log")
    bad.stop()
    del os.environ["GREENLIGHT_KAFKA_SASL_PASSWORD"]


run(main)
