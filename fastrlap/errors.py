"""The one exception type the CLI prints as a single line (no traceback).

Raise a subclass for anything the user can fix — a missing file, a corrupt demo, an unplugged
port — with a message that names the thing and the fix.
"""


class FastrlapError(Exception):
    """A problem the user can fix; its message is one line naming the thing and the fix."""
