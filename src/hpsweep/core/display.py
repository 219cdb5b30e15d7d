"""Terminal output shared by the commands: a console that does not squeeze tables, tables that fit 100 columns,
readable durations."""

import sys


def console():
    """A rich console; when piped (CI logs, ``| less``) it is wide enough that tables are not cut."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 200)


TABLE_COLUMNS = 100  # a table fits this many columns (cells wrap); --wide shows every column at full width


def table_width(out, wide: bool = False) -> int | None:
    """The width to print a table at: at most ``TABLE_COLUMNS`` (or the terminal's, where narrower); None (the
    console's own) with ``wide``."""
    return None if wide else min(out.width, TABLE_COLUMNS)


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
