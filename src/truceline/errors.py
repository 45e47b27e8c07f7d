"""Errors that reach the user: each carries a clear message and the process exit code."""

from __future__ import annotations

from dataclasses import dataclass


class TrucelineError(Exception):
    """An error the command line reports as one or more plain lines, then exits with `exit_code`."""

    exit_code: int = 1

    def lines(self) -> list[str]:
        return [str(self)]


class UsageError(TrucelineError):
    """The user asked for something that cannot be done as asked (bad option, missing file)."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value from a file, the environment or a flag is invalid."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located as precisely as possible."""

    file: str
    message: str
    feature_index: int | None = None
    feature_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.feature_index is not None:
            where += f": feature {self.feature_index}"
            if self.feature_id:
                where += f" ({self.feature_id})"
        return f"{where}: {self.message}"


class InputError(TrucelineError):
    """An input file is invalid; `problems` says where and why. Exit code 2."""

    exit_code = 2

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]
