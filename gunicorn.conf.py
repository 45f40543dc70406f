"""gunicorn for Genvoris: `gunicorn genvoris.wsgi -c gunicorn.conf.py`.

Chosen by measurement (`bench/track.py --config-sweep`, figures in docs/performance.md) on the
2-core machine the project runs on. Each value can be overridden from the environment.
"""

import environ

env = environ.Env()

bind = env.str("BIND", default="0.0.0.0:8000")
# Sync worker processes, 2 per core. The request path is CPU-bound Python between short database
# round trips, so processes (not threads) scale it: in the sweep of docs/performance.md, sync × 4
# served the most legacy and per-customer try-ons on 2 cores, while threads (gthread) lost up to
# half the hot store's throughput to the GIL and row-lock waits. Slow clients are a proxy's job:
# run a buffering proxy (nginx) in front, as docs/performance.md says, so no worker waits on an upload.
workers = env.int("WEB_CONCURRENCY", default=4)
worker_class = env.str("GUNICORN_WORKER_CLASS", default="sync")
threads = env.int("GUNICORN_THREADS", default=1)
# A worker silent this long is killed and replaced; track transactions take milliseconds, and a
# generation is bounded by its own timeout below this.
timeout = env.int("GUNICORN_TIMEOUT", default=30)
graceful_timeout = 20
# Keep-alive between a load balancer and the workers.
keepalive = 5
# Recycle workers now and then, so a slow leak in any library cannot grow without bound.
max_requests = env.int("GUNICORN_MAX_REQUESTS", default=20_000)
max_requests_jitter = 2_000
# Behind a proxy, only its address may set X-Forwarded-* (NUM_PROXIES in settings decides).
forwarded_allow_ips = env.str("FORWARDED_ALLOW_IPS", default="127.0.0.1")
accesslog = env.str("GUNICORN_ACCESS_LOG", default="") or None
errorlog = "-"
