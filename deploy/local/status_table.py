"""Reads `greenlight tail` JSON lines of OrderStatus records on stdin and
prints each order's history and final state as a table."""
import json
import sys

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
