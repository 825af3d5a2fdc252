"""Errors raised at the edges (configuration, data). Each message says what is wrong and how to fix it."""


class SafebenchError(Exception):
    """Base class: an error the user can act on (bad option, missing data, bad configuration)."""


class ConfigError(SafebenchError):
    """A jury or option configuration is invalid or missing."""


class DataError(SafebenchError):
    """A data source is missing, unreadable or does not have the expected shape."""


class DataNotBuiltError(DataError):
    """A task needs a local dataset that has not been built yet."""
