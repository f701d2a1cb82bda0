"""One exception type per failure, each with its own exit status.

Every error carries the problem *and* the fix, so the CLI can print one line a user can act
on. Exit statuses 0-2 belong to `bindbot diff` (no change / compatible / breaking), so
failures start at 64 (the BSD sysexits range) and never collide with them.
"""

from __future__ import annotations


class BindbotError(Exception):
    """Base class: a failure bindbot understands, with a fix for the user."""

    exit_code = 70

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def one_line(self) -> str:
        """The message the CLI prints: problem and fix on a single line."""
        return f"{self.problem} (fix: {self.fix})"


class UsageError(BindbotError):
    """The command line itself is wrong."""

    exit_code = 64


class ConfigError(BindbotError):
    """A configuration file or environment variable has a bad value."""

    exit_code = 65


class NotARepositoryError(BindbotError):
    """A path or URL given as the upstream (or a dependency) is not a git repository."""

    exit_code = 66


class UnknownRefError(BindbotError):
    """A branch, tag or SHA does not name a commit of the upstream."""

    exit_code = 67


class FetchError(BindbotError):
    """Cloning or fetching a git repository failed."""

    exit_code = 68


class DependencyError(BindbotError):
    """A third-party pin cannot be read or materialised."""

    exit_code = 69


class HeaderParseError(BindbotError):
    """libclang reported errors for the upstream's API headers."""

    exit_code = 71


class LockError(BindbotError):
    """rust_crate/bindbot.lock is missing, corrupted or inconsistent."""

    exit_code = 72


class ToolMissingError(BindbotError):
    """An external tool the pipeline needs is not installed."""

    exit_code = 73


class CacheError(BindbotError):
    """A cache entry is unreadable; it is never trusted half-written."""

    exit_code = 74


class GenerationError(BindbotError):
    """The API model has something the templates cannot express; nothing was written."""

    exit_code = 75


class StaleOutputError(BindbotError):
    """`bindbot generate --check`: the committed crate differs from what bindbot makes."""

    exit_code = 76


class ToolFailedError(BindbotError):
    """An external tool (bindgen, a compiler) ran and failed."""

    exit_code = 77


class VerificationError(BindbotError):
    """The crate built or ran wrong on a target: the report names target, step and error."""

    exit_code = 78


class ForgeError(BindbotError):
    """The forge (GitHub) refused a request or stayed unavailable after the retries."""

    exit_code = 79


class PullExistsError(ForgeError):
    """An open pull request already has the bot's branch as head (GitHub's 422)."""


class BusyError(BindbotError):
    """Another bindbot run holds the run lock: two runs must not interleave."""

    exit_code = 80


class PackageError(BindbotError):
    """The crate could not be packaged as its users get it: a vendored file is missing or
    changed, the package is over the registry's size limit, or `cargo package` failed."""

    exit_code = 81


class RegistryError(BindbotError):
    """The cargo registry refused a publish (4xx, size limit), stayed unavailable (5xx), or
    no token was given."""

    exit_code = 82


EXIT_CODES: dict[str, int] = {
    cls.__name__: cls.exit_code
    for cls in (
        UsageError,
        ConfigError,
        NotARepositoryError,
        UnknownRefError,
        FetchError,
        DependencyError,
        HeaderParseError,
        LockError,
        ToolMissingError,
        CacheError,
        GenerationError,
        StaleOutputError,
        ToolFailedError,
        VerificationError,
        ForgeError,
        BusyError,
        PackageError,
        RegistryError,
    )
}
