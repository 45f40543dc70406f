import logging
from argparse import ArgumentParser
from typing import Any

from django.db import connection
from django.utils import timezone

from genvoris.commands import JsonCommand
from stores.webhooks.runner import Runner
from stores.webhooks.worker import webhooks_backlog

logger = logging.getLogger("genvoris.webhooks")


class Command(JsonCommand):
    help = (
        "Deliver webhooks: fan new events out to the endpoints subscribed to them and send every due "
        "delivery, signed, retrying after 10, 30, 120, 300, 900, 1800, 2700 and 3600 s, then marking it "
        "dead. Runs until SIGTERM (which lets the attempts in flight finish); with --once, sends what "
        "is due and exits. Run one or more next to the web server (see the Procfile); on SQLite, one."
    )

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--once", action="store_true", help="Send what is due now, then exit.")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            help="Deliveries in flight at once, each to a different endpoint (default 8; 1 on SQLite, which has one writer).",
        )
        parser.add_argument("--poll", type=float, default=1.0, help="Seconds between looks when idle (default 1).")

    def run(self, **options: Any) -> dict[str, Any]:
        concurrency = options["concurrency"] or (1 if connection.vendor == "sqlite" else 8)
        if not 1 <= concurrency <= 64:
            raise SystemExit("--concurrency must be between 1 and 64.")
        # The worker's own lines (started, a status every 30 s, stopping) are log lines like the
        # web's, one JSON object each with LOG_FORMAT=json; with --once there are none.
        runner = Runner(concurrency=concurrency, poll_seconds=max(options["poll"], 0.05), report=logger.info)
        runner.install_signal_handlers()
        if not options["once"]:
            logger.info("delivering webhooks with %s thread(s); SIGTERM to stop", concurrency)
        stats = runner.run(once=options["once"])
        backlog = webhooks_backlog(now=timezone.now())
        return {**stats.as_dict(), "due": backlog.due, "oldest_due_seconds": round(backlog.oldest_due_seconds, 1)}

    def logs_quietly(self, options: dict[str, Any]) -> bool:
        """Running until stopped, this is a service: its log lines are what its operator reads."""
        return bool(options["once"]) and super().logs_quietly(options)

    def summary(self, result: dict[str, Any]) -> str:
        return (
            f"{result['attempted']} attempt(s): {result['succeeded']} succeeded, {result['failed']} to retry, "
            f"{result['dead']} dead. Due now: {result['due']} (oldest waiting {result['oldest_due_seconds']} s)."
        )
