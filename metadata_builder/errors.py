"""The one exception type the CLI turns into a one-line message (no traceback)."""


class UserError(Exception):
    """A problem the user can fix: the message names it and says how.

    The CLI prints ``metadata-builder: error: <message>`` and exits with status 2.
    Library callers (notebooks) get an ordinary exception with the same message.
    """
