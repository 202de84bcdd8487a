"""pandas' read_csv on the file bench/data generated, for the same run's
comparison: prints {"rows": n, "seconds": s} (peak RSS is read by the
parent from wait4). Exits 3 when pandas is not installed."""
import json
import sys
import time

try:
    import pandas as pd
except ImportError:
    sys.exit(3)

t = time.monotonic()
df = pd.read_csv(sys.argv[1])
s = time.monotonic() - t
print(json.dumps({"rows": len(df), "seconds": s}))
