"""Interop: a status record written by the order daemon is decoded by
clients that are not project code — kcat reads it with read_committed and
protoc --decode turns it into text using only proto/ — proving that the
wire contract stands alone."""
import shutil

from harness import *


def main():
    for tool in ("kcat", "protoc"):
        check(shutil.which(tool), f"{tool} is not installed (deploy/local/setup.sh installs it)")
    prefix = new_prefix("interop")
    make_topics(prefix)
    d = orderd(prefix).start()
    produce(prefix, [{"event_id": "E-I-1", "occurred_at_ms": 1767571200000, "source": "erp.test",
                      "order_placed": {"order_id": "O-I-1", "buyer_id": "B-I", "units": 4200,
                                       "end_use": "END_USE_ENTERPRISE"}}])
    wait_until(lambda: tail(prefix, "greenlight.order-status"), 60, "the status record")
    topic = prefix + "greenlight.order-status"
    kcat = ["kcat", "-b", BOOTSTRAP, "-C", "-t", topic, "-o", "beginning", "-e", "-c", "1",
            "-X", "isolation.level=read_committed", "-q"]
    raw = subprocess.run(kcat + ["-D", "", "-f", "%s"], capture_output=True, timeout=60, check=True).stdout
    headers = subprocess.run(kcat + ["-f", "%h"], capture_output=True, timeout=60, check=True).stdout.decode()
    check("message-type=greenlight.v1.OrderStatus" in headers, f"headers: {headers!r}")
    check("content-type=application/x-protobuf" in headers, f"headers: {headers!r}")
    text = subprocess.run(["protoc", f"--proto_path={SRC}/proto",
                           "--decode=greenlight.v1.OrderStatus", "greenlight/v1/greenlight.proto"],
                          input=raw, capture_output=True, timeout=60, check=True).stdout.decode()
    for want in ('order_id: "O-I-1"', "state: ORDER_STATE_ACCEPTED",
                 "previous_state: ORDER_STATE_RECEIVED", "version: 1", "units_requested: 4200",
                 'event_id: "E-I-1"'):
        check(want in text, f"protoc output lacks {want!r}:\n{text}")
    check(d.stop() == 0, "orderd did not exit 0 on SIGTERM")


run(main)
