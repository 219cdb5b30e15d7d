"""``hpsweep report``: one HTML page of sweeps' answers."""

from pathlib import Path

from hpsweep.cli.common import load_sweeps
from hpsweep.core.display import console, say
from hpsweep.report.page import default_path, write


def run(args, parser) -> int:
    return report(args.directories, args.out, args.metric, args.direction)


def report(directories: list[Path], out: Path | None, metric: str | None, direction: str | None) -> int:
    """Write the sweeps' page (``hpsweep.report.page``): by default ``<first dir>/report/index.html``."""
    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    page = write(sweeps, out or default_path(directories[0]))
    screen = console()
    say(screen, f"wrote {page}")
    say(screen, f"the page, to open in a browser: {page.resolve().as_uri()}")
    return 0
