"""What the metrics add to one debited track request, alone: the request histogram's observation
and the two counters `tryon/metrics.py` increments, timed in a tight loop (best of 5).

    python bench/metrics_cost.py            # values in this process (runserver, the tests)
    PROMETHEUS_MULTIPROC_DIR=/tmp/m python bench/metrics_cost.py   # mmap'd files, as under gunicorn

Prints one JSON object: microseconds per request and the mode. bench/track.py --metrics runs it
both ways; the whole request costs about 1.5–2 ms of CPU (its in-process figure beside it).
"""

import json
import os
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genvoris.settings")
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("DEBUG", "true")

LOOPS = 20_000


def main() -> None:
    import django

    django.setup()
    from genvoris.metrics import CREDITS_DEBITED, REQUEST_SECONDS, TRYONS

    def one_request() -> None:
        # What MetricsMiddleware and track_answered do for a debited try-on.
        REQUEST_SECONDS.labels("api/tryon/track", "POST", "200").observe(0.004)
        TRYONS.labels("debited", "").inc()
        CREDITS_DEBITED.inc()

    best = min(timeit.repeat(one_request, number=LOOPS, repeat=5)) / LOOPS
    mode = "multiprocess" if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else "in-process"
    print(json.dumps({"mode": mode, "us_per_request": round(best * 1e6, 2)}))


if __name__ == "__main__":
    main()
