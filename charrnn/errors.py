"""The one exception type for mistakes a user can fix (bad input, bad config, bad file).

The CLI turns it into a one-line message and a non-zero exit; anything else is a bug
and keeps its traceback.
"""


class CharrnnError(Exception):
    """A user-facing error whose message fits on one line."""

    exit_code = 1
