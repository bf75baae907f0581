"""User-facing errors: the CLI prints them as one line and exits with code 2 (no traceback)."""


class UserError(Exception):
    """A problem the user can fix (bad config value, missing data folder, unknown name)."""


class ConfigError(UserError):
    """A configuration field holds a value that is not allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"config field '{field}' = {value!r} is invalid: {allowed}")
        self.field, self.value, self.allowed = field, value, allowed


class DataError(UserError):
    """Dataset files are missing, corrupt or malformed."""
