"""Reads `greenlight tail` JSON lines on stdin and prints them as a table:
OrderStatus records as each order's final state and history, or with
--batches, BatchStatus records as each batch's latest view."""
import json
import sys


def batches():
    latest = {}
    for line in sys.stdin:
        r = json.loads(line)
        latest[r["key"]] = r["value"]
    print(f"{'batch':<11} {'seq':>3} {'cap':>7} {'queued':>6} {'approved':>8} {'denied':>6} "
          f"{'cleared':>7} {'waiting':>7} {'units req':>9} {'approved':>8} {'cleared':>8}  over cap")
    for key, v in latest.items():
        g = lambda k: v.get(k, 0)
        print(f"{key:<11} {g('batch_seq'):>3} {g('unit_cap'):>7} {g('orders_queued'):>6} "
              f"{g('orders_approved'):>8} {g('orders_denied'):>6} {g('orders_cleared'):>7} "
              f"{g('orders_waiting'):>7} {g('units_requested'):>9} {g('units_approved'):>8} "
              f"{g('units_cleared'):>8}  {'YES' if v.get('over_cap') else 'no'}")


if "--batches" in sys.argv:
    batches()
    sys.exit(0)

orders = {}
for line in sys.stdin:
    r = json.loads(line)
    orders.setdefault(r["key"], []).append(r["value"])

short = lambda s: s.replace("ORDER_STATE_", "") if s else ""
print(f"{'order':<10} {'buyer':<34} {'final state':<18} {'requested':>9} {'effective':>9} "
      f"{'cleared':>8}  {'batch':<11} reason")
for oid, recs in orders.items():
    v = recs[-1]
    print(f"{oid:<10} {v.get('buyer_name', v.get('buyer_id', ''))[:34]:<34} {short(v['state']):<18} "
          f"{v.get('units_requested', 0):>9} {v.get('units_effective', 0):>9} "
          f"{v.get('units_cleared', 0):>8}  {v.get('batch_id', '-'):<11} {v.get('reason', '')}")
print()
for oid, recs in orders.items():
    path = " -> ".join(f"{short(r['state'])}(v{r['version']})" for r in recs)
    print(f"{oid:<10} {path}")
print()
for oid, recs in orders.items():
    for r in recs:
        if r["state"] == "ORDER_STATE_APPROVED" and r.get("units_effective", 0) < r.get("units_requested", 0):
            print(f"{oid} v{r['version']} ({r.get('reason_code')}): {r.get('reason')}")
