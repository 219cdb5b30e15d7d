"""hpsweep: look at a sweep before spending compute on it, and read what won after.

examples:
  hpsweep check model=resnet50.tv2_in1k optimizer=SGD
  hpsweep matrix model=test_resnet,test_efficientnet category=optimizer,loss_function
  hpsweep summary outputs/ --csv summary.csv --json summary.json --markdown summary.md
  hpsweep report outputs/sweeps/2026-11-27_17-30-00
  hpsweep best outputs/sweeps/2026-11-27_17-30-00 --verify
  hpsweep predict outputs/sweeps/.../fold/fold0 /data/test --out probabilities.csv
  hpsweep ensemble outputs/sweeps/2026-11-27_17-30-00 --out submission.csv
  hpsweep status outputs/sweeps/2026-11-27_17-30-00
  hpsweep sync outputs/sweeps/2026-11-27_17-30-00
"""

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from hpsweep.core.display import WrappingFormatter

HELP_FORMAT = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines; nothing here imports torch
# Each command is the module of its name in this package (``hpsweep.cli.matrix``), imported once it is chosen:
# ``hpsweep --help`` and each command load only what that command reads.
COMMANDS = ("check", "matrix", "summary", "report", "best", "status", "predict", "ensemble", "sync", "interactive",
            "run")
COMPOSING = ("check", "matrix", "interactive", "run")  # the commands that compose the app's configs


def main(argv: list[str] | None = None) -> int:
    try:
        return command_line(argv)
    except BrokenPipeError:  # piped into head, or a pager that quit: no traceback, as rich's console does it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 1


def command_line(argv: list[str] | None) -> int:
    # what a command logs (a damaged record it reads around, say) as logging's last resort would print it, but
    # wrapped to the terminal; a no-op where logging is set up already (under pytest)
    handler = logging.StreamHandler()
    handler.setFormatter(WrappingFormatter(logging.Formatter("%(message)s")))
    logging.basicConfig(handlers=[handler])
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    if args.command in COMPOSING and not args.config_dir.is_dir():
        parser.error(f"--config-dir {args.config_dir}: no such directory; run from the project root or point "
                     "--config-dir at the app's Hydra config dir")
    return importlib.import_module(f"{__name__}.{args.command}").run(args, commands[args.command])


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The command line and each command's own parser, its arguments declared by the function of its name below."""
    parser = argparse.ArgumentParser(prog="hpsweep", description=__doc__, formatter_class=HELP_FORMAT)
    parser.add_argument("--config-dir", type=Path, default=Path("conf"),
                        help="the Hydra config directory, for check, matrix, interactive and run (default: ./conf)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    return parser, {name: globals()[f"_{name}"](commands) for name in COMMANDS}


def _command(commands, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    return commands.add_parser(name, help=summary, description=f"{summary}.\n\n{description}",
                               formatter_class=HELP_FORMAT)


def _check(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "check", "compose and validate one config without training",
                      "Prints the resolved config, its W&B project and run name, or every problem found.")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for run_experiments.py")
    return parser


def _matrix(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "matrix", "list the rows and trainings of a sweep without running them",
                      "Shows each model's rows, which rows share a training (the base), and time estimates "
                      "from past results.")
    parser.add_argument("overrides", nargs="*", help="sweep overrides, as for run_experiments.py -m")
    parser.add_argument("--results", type=Path, nargs="*", default=[Path("outputs")],
                        help="where past result.json files are, for time estimates (default: outputs)")
    return parser


def _summary(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "summary", "what won: tables, exports and plots of sweeps",
                      "Per sweep, model and setting: each option's replicates (n, mean, std, min, max), its "
                      "difference to the base and the test behind it, and each category's choice. Works from "
                      "any directory: it reads only the sweep dirs' files.")
    parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")],
                        help="sweep dirs, or outputs/ for every sweep (default: outputs)")
    parser.add_argument("--csv", type=Path, help="write one row per option to this CSV file")
    parser.add_argument("--json", type=Path, help="write one object per option to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the tables and plots to this Markdown file")
    parser.add_argument("--plots", type=Path, help="write the PNG plots into this folder (by default beside "
                        "--markdown, --csv or --json; with none of them, no file is written)")
    parser.add_argument("--no-plots", action="store_true", help="the table and exports only")
    parser.add_argument("--wide", action="store_true", help="every column of the table (min, max, time), as wide "
                        "as it needs; by default the table fits the terminal (COLUMNS), leaving columns out")
    parser.add_argument("--explain", action="store_true", help="the tests behind each verdict: the method, its "
                        "degrees of freedom, the corrections, the notes")
    add_metric_arguments(parser)
    return parser


def _report(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "report", "one HTML page of sweeps' answers, to open in a browser",
                      "Self-contained (inline styles, plots and a few lines of script; no network): each "
                      "category's table, verdict and plots, the best config, the cost, the progress, and every "
                      "failed, pruned or eliminated training with its reason. A running sweep keeps its own "
                      "page current (<sweep dir>/report/index.html, reloading itself).")
    parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")])
    parser.add_argument("--out", type=Path,
                        help="the HTML file to write (default: <first dir>/report/index.html)")
    add_metric_arguments(parser)
    return parser


def _best(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "best", "write each comparison's choices as an experiment config",
                      "The config sets each category's choice (the base where the winner is within noise of "
                      "it) and the sweep's fixed overrides, so it trains as compared. --verify trains the "
                      "combination with the same replicates and compares it with the base.")
    parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")])
    parser.add_argument("--out", type=Path, help="a config dir to write experiment/best_<model>.yaml into "
                        "(default: <sweep dir>/best, outside your checkout)")
    add_metric_arguments(parser)
    parser.add_argument("--verify", action="store_true", help="train the combination and compare it with the base")
    parser.add_argument("verify_overrides", nargs="*", metavar="override",
                        help="extra overrides for the --verify runs (e.g. hydra/launcher=local)")
    return parser


def _status(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "status", "where each row of a sweep stands, and its logs",
                      "One line per row (model, category, option): its replicates' states. Asks SLURM (squeue) about "
                      "trainings that started under it and left no result. Piped, every line is tab-separated and "
                      "the last counts every training's state.")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--trainings", action="store_true", help="one line per training instead of per row")
    parser.add_argument("--wide", action="store_true", help="every column, past the terminal's edge if it must")
    return parser


def _predict(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "predict", "a finished run predicts a folder of images",
                      "Its best_model.pt and config build the model and evaluation transform (on a GPU when "
                      "there is one); writes id, label and one probability per class.")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("images_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    parser.add_argument("--tta", nargs="*", choices=["hflip", "vflip", "rot90", "rot180", "rot270"],
                        help="test-time augmentation views (default: the run's trainer.tta; --tta alone: none)")
    return parser


def _ensemble(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "ensemble", "one submission from many runs' test probabilities",
                      "Averages every completed run under the dirs that predicted a test folder (a fold "
                      "sweep, seeds, models), in the sample submission's columns and order, and reports the "
                      "same ensemble's out-of-fold macro F1 where the runs validated on different folds.")
    parser.add_argument("directories", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True, help="the submission CSV to write")
    return parser


def _sync(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "sync", "upload a sweep's offline W&B runs (wandb sync)",
                      "Run it where there is internet, e.g. a login node; runs already synced are skipped.")
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    return parser


def _interactive(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "interactive", "pick models, categories and a launcher from menus",
                      "Shows the matrix, asks to confirm, then runs the command you could have typed.")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    return parser


def _run(commands) -> argparse.ArgumentParser:
    parser = _command(commands, "run", "the seed runner's flags, forwarded to run_experiments.py -m",
                      "--models and --categories, or --all; --matrix shows the jobs instead.")
    parser.add_argument("--models", nargs="+", default=[], help="model config names (conf/model/*.yaml)")
    parser.add_argument("--categories", nargs="+", default=[], help="categories to sweep")
    parser.add_argument("--all", action="store_true", help="every model and every category (all x all)")
    parser.add_argument("--launcher", default="basic",
                        help="basic, local, slurm or ray (the running Ray cluster: ray start, or "
                             "hydra.launcher.ray.init.address=HOST:PORT among the overrides)")
    parser.add_argument("--matrix", action="store_true", help="show the jobs instead of running them")
    parser.add_argument("--summary", action="store_true", help="summarise outputs/ instead of running")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    return parser


def add_metric_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="decide by this metric of every training's result.json instead of the "
                        "sweep's, by the same rule: val_f1, val_acc, val_loss, val_f1_distorted, val_f1_tta, ...")
    parser.add_argument("--direction", choices=("max", "min"), help="whether higher or lower is better (default: "
                        "min for a loss, else max)")
