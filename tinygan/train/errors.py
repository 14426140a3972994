"""The three ways a training command ends early, each with its exit code.

Every one is a single line for the user: the command line prints it and exits with
`exit_code`, never with a traceback.
"""


class RunError(Exception):
    """A problem the user can fix: bad options, a damaged checkpoint, a folder holding another run,
    a full disk.  `exit_code` 2, as argparse uses for bad input."""

    exit_code = 2


class Diverged(RunError):
    """The losses, or the weights, became NaN/inf; the last good checkpoint is kept."""

    exit_code = 1


class Interrupted(RunError):
    """Ctrl-C or SIGTERM: the checkpoint was saved and the run can be resumed."""

    exit_code = 130


__all__ = ["RunError", "Diverged", "Interrupted"]
