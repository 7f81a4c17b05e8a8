"""Typed errors. The CLI turns an `ArbdbError` into one line on stderr and a non-zero exit.

Retriable errors are worth another attempt later (network, 429, 5xx); fatal ones need a person.
"""


class ArbdbError(Exception):
    """Base of every error arbdb reports to a user."""

    exit_code = 1


class ConfigError(ArbdbError):
    """config.yaml or the environment is wrong; the message names the key."""

    exit_code = 2


class UsageError(ArbdbError):
    """A command-line argument is wrong (bad date, unknown pair)."""

    exit_code = 2


class RetriableError(ArbdbError):
    """Temporary failure: rerunning later may succeed."""


class FatalError(ArbdbError):
    """Failure that retrying will not fix (bad credentials, bad request)."""


class ExtractError(RetriableError):
    """A Tardis download failed for one exchange and day."""


class AuthError(FatalError):
    """An API refused the credentials (401/403)."""


class DataNotPublished(RetriableError):
    """Tardis has not published the requested range yet."""


class UnknownSymbol(FatalError):
    """A symbol is not configured or not served by the exchange."""


class StoreError(FatalError):
    """The SQLite store cannot be used as it is (missing, damaged, read-only, wrong schema)."""


class LLMError(RetriableError):
    """The LLM gateway failed after retries."""


class MailError(RetriableError):
    """SMTP delivery failed; the message stays in the outbox."""


class AlreadyRunning(FatalError):
    """Another scheduler holds the lock on this database."""


class TardisUnreachable(ExtractError):
    """No TCP connection to the Tardis endpoint at all (refused, unknown host): stop, do not wait."""
