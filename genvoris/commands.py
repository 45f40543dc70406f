"""The shape every management command shares: `--json` prints one object, errors exit 1."""

import json
import logging
from abc import ABC, abstractmethod
from argparse import ArgumentParser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from genvoris.errors import ApiError


@contextmanager
def _quiet_logs(quiet: bool) -> Iterator[None]:
    """A command that succeeds writes nothing on stderr (SPEC §20), where the logs go: what it did
    is its output, and the audit trail has it. So below `-v 2` the logs it writes are its warnings
    and errors only; `-v 2` or `-v 3` shows LOG_LEVEL's lines too. The web process is unaffected."""
    root = logging.getLogger()
    level = root.level
    if quiet and level < logging.WARNING:
        root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        root.setLevel(level)


class JsonCommand(BaseCommand, ABC):
    """Subclasses implement `run(**options) -> dict` and `summary(result) -> str`."""

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object on stdout.")
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: ArgumentParser) -> None:
        pass

    def run_from_argv(self, argv: list[str]) -> None:
        # argparse answers a bad argument with exit status 2; SPEC §11 promises 1 for every error,
        # so an operator's script needs one check only.
        try:
            super().run_from_argv(argv)
        except SystemExit as exit_:
            if exit_.code == 2:
                raise SystemExit(1) from None
            raise

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            with _quiet_logs(self.logs_quietly(options)):
                result = self.run(**options)
        except ApiError as error:
            raise CommandError(error.detail) from None
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(self.summary(result))
        self.after_output(result)

    def logs_quietly(self, options: dict[str, Any]) -> bool:
        return int(options["verbosity"]) < 2

    @abstractmethod
    def run(self, **options: Any) -> dict[str, Any]: ...

    def summary(self, result: dict[str, Any]) -> str:
        return " ".join(f"{key}={value}" for key, value in result.items())

    def after_output(self, result: dict[str, Any]) -> None:
        """Hook for commands whose exit status depends on the result (audit_credits)."""
