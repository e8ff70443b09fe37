"""The one exception type the CLI prints as a single line (no traceback).

Raise a subclass for anything the user can fix — a missing file, a corrupt demo, an unplugged
port — with a message that names the thing and the fix.
"""


class FastrlapError(Exception):
    """A problem the user can fix; its message is one line naming the thing and the fix."""


class ConfigError(FastrlapError):
    """A setting on the command line that does not exist, has the wrong type or is out of range;
    refused before anything starts, so a typo never costs a run."""
