"""Superseded by bench.py (issue 8), which runs the same throughput
comparison plus the bare librdkafka pass-through, latency, memory and
restore. Kept so that the old command still works:

  python3 tests/bench/throughput.py [ORDERS]     # = bench.py --orders ORDERS --skip latency,memory

GL_BENCH_ARGS (extra daemon flags) is passed on as bench.py --daemon-args."""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
orders = sys.argv[1] if len(sys.argv) > 1 else "100000"
os.execv(sys.executable, [sys.executable, os.path.join(here, "bench.py"), "--orders", orders,
                          "--skip", "latency,memory"])
