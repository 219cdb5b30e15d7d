"""Terminal output shared by the commands: a console that does not squeeze tables, readable durations."""

import sys


def console():
    """A rich console; when piped (CI logs, ``| less``) it is wide enough that tables are not cut."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
