"""``hpsweep summary``: what won, as tables, exports and plots of sweeps."""

from pathlib import Path

from hpsweep.cli.common import load_sweeps
from hpsweep.core.display import console, say
from hpsweep.decide.answers import answer
from hpsweep.report import plots
from hpsweep.report.page import default_path
from hpsweep.report.summary import print_summary, rows, write_csv, write_json, write_markdown


def run(args, parser) -> int:
    return summary(args.directories, args.csv, args.markdown, args.json, args.plots, not args.no_plots, args.metric,
                   args.direction, args.wide, args.explain)


def summary(directories: list[Path], csv_path: Path | None, markdown_path: Path | None, json_path: Path | None,
            plots_dir: Path | None, draw: bool = True, metric: str | None = None, direction: str | None = None,
            wide: bool = False, explain: bool = False) -> int:
    """Print the answer of every sweep under ``directories`` (decided by ``metric`` where given; ``wide``: every
    column of the table; ``explain``: the tests behind each verdict); write the exports and (unless ``draw`` is
    False) the plots; the last line names the page
    to open, as a ``file://`` address."""
    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    groups = answer(sweeps)
    print_summary(groups, sweeps, wide, explain)
    images = []
    anchor = markdown_path or csv_path or json_path
    plots_dir = plots_dir or (anchor.parent if anchor else None)  # alone, it only reads: files where you say
    if draw and plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        images = plots.option_plots(groups, plots_dir) + plots.best_curves(groups, plots_dir)
    table = rows(groups)
    if csv_path:
        write_csv(table, csv_path)
    if json_path:
        write_json(table, json_path)
    if markdown_path:
        write_markdown(groups, markdown_path, images)
    out = console()
    for path in filter(None, (csv_path, json_path, markdown_path, *images)):
        say(out, f"wrote {path}")
    for sweep in sweeps:
        if (page := default_path(sweep.directory)).is_file():
            say(out, f"the page, to open in a browser: {page.resolve().as_uri()}")
    return 0
