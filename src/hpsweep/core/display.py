"""Terminal output shared by the commands: a console as wide as the terminal (or ``COLUMNS``, else 100), tables that
fit it by leaving columns out in a stated order and saying which, sentences wrapped at word boundaries, readable
durations.

Nothing here cuts a word or a number: a cell never wraps, a column that does not fit is left out whole, and a
sentence breaks only between words (a path longer than the line runs past its edge, whole)."""

import logging
import shutil
import sys
import textwrap
from collections.abc import Sequence

DEFAULT_COLUMNS = 100  # where neither COLUMNS nor a terminal says


def columns() -> int:
    """The width to print at: ``COLUMNS`` where set, else the terminal's, else ``DEFAULT_COLUMNS`` (piped)."""
    return shutil.get_terminal_size((DEFAULT_COLUMNS, 24)).columns


def console():
    """A rich console ``columns()`` wide; piped, it writes no colour or control characters. It reads no markup: what
    it prints (option names, paths, reasons) comes from sweep dirs that others may write, and stays text."""
    from rich.console import Console

    return Console(width=columns(), markup=False)


def table(*headers: str, right: Sequence[str] = (), **options):
    """A rich table whose cells never wrap or get cut (``fit`` leaves out a column that does not fit instead)."""
    from rich.table import Table

    view = Table(**{"box": None, "pad_edge": False, "header_style": "bold", **options})
    for header in headers:
        view.add_column(header, justify="right" if header in right else "left", no_wrap=True, overflow="ignore")
    return view


def natural_width(out, view) -> int:
    """The columns ``view`` takes with no cell wrapped."""
    from rich.measure import Measurement

    return Measurement.get(out, out.options.update_width(10_000), view).maximum


def fit(out, view, leave_out: Sequence[str]) -> list[str]:
    """Leave out ``view``'s columns named in ``leave_out``, in that order, until it fits ``out``'s width; returns
    the headers left out (empty where it fitted whole)."""
    dropped: list[str] = []
    for header in leave_out:
        if natural_width(out, view) <= out.width:
            break
        position = next((i for i, column in enumerate(view.columns) if column.header == header), None)
        if position is not None:
            view.columns.pop(position)
            dropped.append(header)
    return dropped


def print_table(out, view, leave_out: Sequence[str] = (), wide: bool = False, more: str = "--wide") -> None:
    """Print ``view`` whole: ``wide``, as wide as it needs (past the terminal's edge rather than squeezed); else fitted
    to the terminal (``fit``), with a line naming what was left out and the flag (``more``) that shows it."""
    if wide:  # rich caps a print's width at the console's: widen the console for this table
        width, out.width = out.width, max(out.width, natural_width(out, view))
        try:
            out.print(view, crop=False)
        finally:
            out.width = width
        return
    dropped = fit(out, view, leave_out)
    out.print(view, crop=False)
    if dropped:
        say(out, f"(left out to fit {out.width} columns: {', '.join(dropped)}; {more} shows them)", style="dim")


def wrap(text: str, width: int, indent: str = "", hang: str = "  ") -> list[str]:
    """``text`` in lines of at most ``width`` columns, broken only between words (a longer word, a path, stays whole
    on a line of its own); lines after the first indented by ``hang`` more."""
    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent + hang,
                         break_long_words=False, break_on_hyphens=False) or [indent]


def command_lines(words: Sequence[str], width: int) -> str:
    """A shell command in lines of at most ``width`` columns, continued with ``\\`` as a person would paste it
    (a word longer than the line stays whole on a line of its own)."""
    lines = [""]
    for word in words:  # whole words: a quoted one may hold spaces
        if lines[-1].strip() and len(lines[-1]) + 1 + len(word) > width - 2:
            lines.append("    ")
        lines[-1] += f"{' ' if lines[-1].strip() else ''}{word}"
    return " \\\n".join(lines)


def say(out, text: str, indent: str = "", hang: str = "  ", style: str | None = None) -> None:
    """Print a sentence wrapped to the console's width (``wrap``); no markup is read in it."""
    for line in wrap(text, out.width, indent, hang):
        out.print(line, style=style, soft_wrap=True, markup=False, highlight=False)


class WrappingFormatter(logging.Formatter):
    """Another formatter's lines, wrapped to the terminal between words (a path stays whole)."""

    def __init__(self, inner: logging.Formatter | None):
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        return "\n".join(line for part in text.splitlines() for line in wrap(part, columns(), hang="    "))


def say_error(message: str) -> None:
    """``error: <message>`` on stderr, each of its lines wrapped to the terminal (a listed problem's continuation
    under its text)."""
    for line in f"error: {message}".splitlines():
        text = line.lstrip()
        indent = line[:len(line) - len(text)]
        print("\n".join(wrap(text, columns(), indent, "    " if text.startswith("- ") else "  ")), file=sys.stderr)


def format_duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
