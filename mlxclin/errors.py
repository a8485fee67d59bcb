"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class MlxclinError(Exception):
    """A user-facing error: bad input, missing file, refused operation. Message is one line."""

    exit_code = 2


class Interrupted(MlxclinError):
    """Ctrl-C during a long job: one line saying where the work stands and how to resume; exit 130."""

    exit_code = 130
