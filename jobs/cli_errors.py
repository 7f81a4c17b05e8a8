"""What the CLI prints when a command fails: one line `arbdb: error: ...`, never a traceback.

Typed arbdb errors carry their own message and exit code. Anything else that reaches the CLI (an
sqlite3, OS or network error from a library, an interrupt) is translated here as a last resort,
so a user never sees a traceback or click's bare `Aborted!`. With `-v` the traceback is logged at
debug level.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn

import click

from pipelines.core.errors import ArbdbError
from pipelines.store.guard import translate

log = logging.getLogger("arbdb")

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
_NETWORK_MODULES = ("requests", "urllib3", "aiohttp", "http.client", "socket", "ssl")


def _is_interrupt(err: BaseException) -> bool:
    if isinstance(err, KeyboardInterrupt):
        return True
    return isinstance(err, click.Abort) and isinstance(err.__context__, KeyboardInterrupt)


def _is_network(err: BaseException) -> bool:
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    return any(cls.__module__.split(".")[0] in _NETWORK_MODULES for cls in type(err).__mro__)


def _os_message(err: OSError) -> str:
    if err.filename is None:
        return f"{err.strerror or err}; check the paths in config.yaml and their permissions"
    return f"{err.filename}: {err.strerror or err}; check the path and its permissions"


def failure(err: BaseException, database: Path | None = None) -> tuple[str, int]:
    """The message (without the `arbdb: error:` prefix) and exit code for `err`."""
    if isinstance(err, ArbdbError):
        return str(err), err.exit_code
    if _is_interrupt(err):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(err, click.Abort):
        return "aborted (nothing more was done); rerun with -v for the traceback", 1
    if isinstance(err, sqlite3.Error):
        return str(translate(err, database or "the database")), 1
    if _is_network(err):
        return f"network request failed: {err}; check the network and the endpoints in config.yaml", 1
    if isinstance(err, OSError):
        return _os_message(err), 1
    return f"unexpected {type(err).__name__}: {err}; rerun with -v for the traceback", 1


def exit_with_failure(err: BaseException, database: Path | None = None) -> NoReturn:
    """Print the one line for `err` on stderr (the traceback at debug level) and exit."""
    log.debug("the command failed", exc_info=err)
    message, code = failure(err, database)
    click.echo(f"arbdb: error: {' '.join(message.split())}", err=True)
    sys.exit(code)
