"""The one error a command shows its user, and the exit codes every command returns.

Every face (the CLI, the server's and training's commands) raises `UserError` for what the user
can fix (a bad argument, a missing interpreter, a model that will not load); `repomend.cli.main`
prints it as one line and exits with `EXIT_ERROR`.
"""

from __future__ import annotations

EXIT_OK = 0
"""The command did what it was asked: the method is fixed (or already passed), the job is done."""
EXIT_NOT_FIXED = 1
"""A repair ran to the end and no answer passed the tests."""
EXIT_ERROR = 2
"""The command could not run; one line on stderr says why."""


class UserError(Exception):
    """What the user can act on, printed as one line (exit code `EXIT_ERROR`)."""
