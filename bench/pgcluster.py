"""A private, throw-away PostgreSQL cluster for bench/faults.py: initdb into a temporary folder,
served on a free loopback port, restarted and stopped at will, removed at the end.

initdb and postgres refuse to run as root, so as root every command runs as the `postgres` user
(`runuser`), which owns the folder. The shared server on 5432 is never touched: every command
names this cluster's data directory, and the fallback kill targets only the postmaster pid this
cluster wrote.
"""

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RUN_AS = "postgres"


def bin_dir() -> Path:
    """The newest /usr/lib/postgresql/N/bin holding pg_ctl."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        raise SystemExit("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return Path(found[-1]).parent


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data, self.log = root / "data", root / "postgres.log"
        self.bin = bin_dir()
        # fsync off: the faults here are process restarts, never a machine crash, so the page
        # cache keeps every committed write and durability is not what is being measured.
        self.options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"

    def url(self, name: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", RUN_AS, "--", *command]
        # Its own session, so a Ctrl-C meant for the bench does not kill pg_ctl halfway.
        done = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=timeout, start_new_session=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} {' '.join(args)} failed ({done.returncode}): {done.stderr or done.stdout}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self.options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self.options, "-m", "fast", "-w", "restart"
        )

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def shutdown(self) -> None:
        """Stop the cluster however it is: pg_ctl first, then its own postmaster pid by signal."""
        if self.postmaster_pid() is None:
            return
        try:
            self.stop()
            return
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        pid = self.postmaster_pid()
        if pid is None or str(self.data) not in cmdline(pid):
            return  # not ours (or gone): leave it alone
        for sig in (signal.SIGQUIT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            for _ in range(50):
                if not Path(f"/proc/{pid}").exists():
                    return
                time.sleep(0.1)


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@contextmanager
def private_cluster(port: int) -> Iterator[Cluster]:
    """initdb and start a cluster on `port`; stopped and deleted when the block ends, however it ends."""
    root = Path(tempfile.mkdtemp(prefix="genvoris-faults-"))
    if os.geteuid() == 0:
        shutil.chown(root, RUN_AS, RUN_AS)
    cluster = Cluster(root, port)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.shutdown()
        shutil.rmtree(root, ignore_errors=True)
