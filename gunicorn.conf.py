"""gunicorn for Genvoris: `gunicorn genvoris.wsgi -c gunicorn.conf.py`.

Chosen by measurement (`bench/track.py --config-sweep`, figures in docs/performance.md) on the
2-core machine the project runs on. Each value can be overridden from the environment.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

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

# --- Prometheus, multi-process (genvoris/metrics.py) ---------------------------------------------
# Every worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR, and a scrape of any worker
# sums them all. Set it to one directory for the web and the webhook worker of a host (a
# RuntimeDirectory of systemd, docs/deploy.md); unset, the master makes a private one of its own,
# removed when it exits. The master sets it before any worker forks, so they all inherit it.
metrics_dir = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
_private_metrics_dir = not metrics_dir


def on_starting(server: Any) -> None:
    global metrics_dir
    if _private_metrics_dir:
        metrics_dir = tempfile.mkdtemp(prefix="genvoris-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    metrics_dir_prepare(Path(metrics_dir))


def on_exit(server: Any) -> None:
    # The master only (an atexit handler would run in every worker that exits).
    if _private_metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def metrics_dir_prepare(path: Path) -> None:
    """Make the directory (private to this user), then remove the files of processes that are gone:
    the last run's workers. A live process's files (the webhook worker's) are kept, so a restart of
    the web resets the web's counters only, as Prometheus expects of a restarted target."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != os.getuid():
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR {path} is not a directory of this user")
    for file in path.glob("*.db"):
        pid = file.stem.rpartition("_")[2]
        if not pid.isdigit() or not _alive(int(pid)):
            file.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive, not ours to judge
        return True
    return True


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    # Drops the dead worker's live gauges; its counters stay, so the sums never go backwards.
    multiprocess.mark_process_dead(worker.pid, metrics_dir)
