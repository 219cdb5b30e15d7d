"""The ``hpsweep`` command: look at what a configuration or a sweep will do before spending compute on it.

    hpsweep check model=resnet50.tv2_in1k optimizer=SGD
    hpsweep matrix model=test_resnet,test_efficientnet category=optimizer,loss_function
    hpsweep summary outputs/ --csv summary.csv --markdown summary.md
    hpsweep best outputs/sweeps/2026-11-27_17-30-00
    hpsweep status outputs/sweeps/2026-11-27_17-30-00
    hpsweep sync outputs/sweeps/2026-11-27_17-30-00

Nothing here imports torch or timm unless a check needs timm's model registry.
"""

import argparse
import multiprocessing
import os
import sys
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from hpsweep import naming
from hpsweep.compose import compose_config
from hpsweep.errors import ConfigError


def check(config_dir: Path, overrides: list[str]) -> int:
    """Compose and validate one experiment; print its names and resolved config, or every problem."""
    from hpsweep.validation import validate

    try:
        cfg = compose_config(config_dir, overrides)
        validate(cfg)
    except (HydraException, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    choices = dict(cfg.hydra.runtime.choices)
    name = naming.run_name(cfg, choices, naming.overridden_groups(overrides), datetime.now())
    project = naming.wandb_project(cfg)
    task = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    print(OmegaConf.to_yaml(task, resolve=True))
    print(f"model: {cfg.model.name}\nW&B project: {project}\nrun name: {name}")
    return 0


def matrix(config_dir: Path, arguments: list[str], results: list[Path]) -> int:
    """Print every job a sweep command line would run, with its run name and, where past results
    exist, an estimate of its time."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from rich.table import Table

    from hpsweep.display import console, format_duration
    from hpsweep.sweep.estimates import Estimator
    from hpsweep.sweep.plan import plan_jobs

    try:
        with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
            master = compose(config_name="config", overrides=[], return_hydra_config=True)
            loader = GlobalHydra.instance().config_loader()
            overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
            jobs = plan_jobs(overrides, loader.get_group_options, list(master.hydra.sweeper.categories),
                             default_groups=set(master.hydra.runtime.choices))
            names = job_names(jobs, lambda job: loader.load_sweep_config(master, list(job.overrides)))
    except (HydraException, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    estimator = Estimator.from_results(results)
    out = console()
    tables: dict[str, Table] = {}
    estimates = []
    for job, (model, project, label) in zip(jobs, names, strict=True):
        if model not in tables:
            tables[model] = Table(title=f"{model}  (W&B project {project})", title_justify="left")
            for column in ("category", "option", "run name", "estimate"):
                tables[model].add_column(column)
        seconds = estimator.seconds(model, job.category, job.option)
        estimates.append(seconds)
        tables[model].add_row(job.category or "-", job.option_label, f"{label}_<ts>",
                              format_duration(seconds) if seconds is not None else "")
    for table in tables.values():
        out.print(table)
    categories = sorted({job.category for job in jobs if job.category})
    out.print(f"{len(jobs)} jobs: {len(tables)} model(s) x {len(categories) or 'no'} categories"
              + (f" ({', '.join(categories)})" if categories else ""))
    known = [seconds for seconds in estimates if seconds is not None]
    if known:
        out.print(f"estimated time: {format_duration(sum(known))} for {len(known)} of {len(jobs)} jobs, "
                  f"run one after another (from {estimator.count} past results)")
    else:
        out.print("no past results to estimate time from (looked in: " + ", ".join(map(str, results)) + ")")
    return 0


def job_names(jobs: list, compose_job) -> list[tuple[str, str, str]]:
    """(timm model name, W&B project, run label) of each job, composing as few configs as possible.

    Hydra takes about 75 ms to compose one config, too slow to do 68 times, and jobs that differ only
    in their model share their run label: the first job of each model and of each option are composed
    (on every core at once), and then only jobs whose option's name template reads the model's config.
    """
    first_of_model, first_of_option = {}, {}
    for number, job in enumerate(jobs):
        first_of_model.setdefault(job.model, number)
        first_of_option.setdefault(_option_key(job), number)
    described = _describe(sorted(set(first_of_model.values()) | set(first_of_option.values())), jobs, compose_job)
    exact = [number for number, job in enumerate(jobs)
             if number not in described and described[first_of_option[_option_key(job)]][2]]
    described |= _describe(exact, jobs, compose_job)
    names = []
    for number, job in enumerate(jobs):
        model_name, project = described[first_of_model[job.model]][:2]
        label = described[number if number in described else first_of_option[_option_key(job)]][3]
        names.append((model_name, project, label))
    return names


def _option_key(job) -> tuple:
    return job.overrides[1:] if job.model else job.overrides


_FORK_STATE: tuple | None = None  # (jobs, compose_job), inherited by forked workers


def _describe(numbers: list[int], jobs: list, compose_job) -> dict[int, tuple[str, str, bool, str]]:
    """Compose the given jobs, in parallel processes forked from this one (which already holds Hydra's
    state) when there are enough of them to pay for it."""
    global _FORK_STATE
    _FORK_STATE = (jobs, compose_job)
    workers = min(os.cpu_count() or 1, len(numbers))
    if workers < 2 or len(numbers) < 8 or "fork" not in multiprocessing.get_all_start_methods():
        return dict(zip(numbers, map(_describe_one, numbers), strict=True))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return dict(zip(numbers, pool.map(_describe_one, numbers), strict=True))


def _describe_one(number: int) -> tuple[str, str, bool, str]:
    """(model name, W&B project, whether the option's run name reads the model config, run label)."""
    jobs, compose_job = _FORK_STATE
    job = jobs[number]
    cfg = compose_job(job)
    template = OmegaConf.to_container(cfg.get("run_name_parts") or {}, resolve=False).get(job.category)
    label = naming.run_label(cfg, dict(cfg.hydra.runtime.choices), naming.overridden_groups(list(job.overrides)))
    return cfg.model.name, naming.wandb_project(cfg), "${model" in str(template), label


def summary(directories: list[Path], csv_path: Path | None, markdown_path: Path | None,
            plots_dir: Path | None, draw: bool = True) -> int:
    """Print the table of every job under ``directories``; write the exports and (unless ``draw`` is
    False) the plots."""
    from hpsweep.report import plots
    from hpsweep.report.results import gather
    from hpsweep.report.summary import print_summary, rows, write_csv, write_markdown

    results = gather(directories)
    if not results:
        print(f"error: no result.json under {', '.join(map(str, directories))}", file=sys.stderr)
        return 1
    table = rows(results)
    print_summary(table)
    images = []
    if draw:
        anchor = markdown_path or csv_path
        plots_dir = plots_dir or (anchor.parent if anchor else directories[0] / "summary")
        plots_dir.mkdir(parents=True, exist_ok=True)
        images = plots.option_bars(results, plots_dir) + plots.best_curves(results, plots_dir)
    if csv_path:
        write_csv(table, csv_path)
    if markdown_path:
        write_markdown(table, markdown_path, images)
    for path in filter(None, (csv_path, markdown_path, *images)):
        print(f"wrote {path}")
    return 0


def best(config_dir: Path, directories: list[Path], out_dir: Path | None, metric: str) -> int:
    """Write the best option of each category, per model, as ``conf/experiment/best_<model>.yaml``."""
    from hpsweep.report.best import write_best
    from hpsweep.report.results import gather

    default_groups = set(compose_config(config_dir, []).hydra.runtime.choices)
    written = write_best(gather(directories), out_dir or config_dir / "experiment", metric, default_groups,
                         [str(directory) for directory in directories])
    if not written:
        print(f"error: no completed category job under {', '.join(map(str, directories))}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}: python run_experiments.py +experiment={path.stem}")
    return 0


def sync(sweep_dir: Path, dry_run: bool) -> int:
    """Upload every offline W&B run of a sweep with ``wandb sync`` (from a machine with internet).

    A requeued job has one offline run directory per start, all with the same run id; wandb syncs them
    in order of start time, into one run. Runs already synced are skipped, so running it again is safe.
    """
    import subprocess

    runs = sorted(str(path) for path in sweep_dir.glob("**/wandb/offline-run-*") if path.is_dir())
    if not runs:
        print(f"error: no offline W&B runs under {sweep_dir} (wandb/offline-run-* in its job dirs)",
              file=sys.stderr)
        return 1
    dry = ["--dry-run"] if dry_run else []
    return subprocess.run([sys.executable, "-m", "wandb", "sync", *dry, *runs]).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hpsweep", description=__doc__.splitlines()[0])
    parser.add_argument("--config-dir", type=Path, default=Path("conf"),
                        help="the Hydra config directory (default: ./conf)")
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("check", help="compose and validate a config without training")
    check_parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for run_experiments.py")
    matrix_parser = commands.add_parser("matrix", help="list the jobs of a sweep without running them")
    matrix_parser.add_argument("overrides", nargs="*", help="sweep overrides, as for run_experiments.py -m")
    matrix_parser.add_argument("--results", type=Path, nargs="*", default=[Path("outputs")],
                               help="where past result.json files are, for time estimates (default: outputs)")
    summary_parser = commands.add_parser("summary", help="tables, exports and plots of finished jobs")
    summary_parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")],
                                help="sweep dirs, or outputs/ for every sweep (default: outputs)")
    summary_parser.add_argument("--csv", type=Path, help="write one row per job to this CSV file")
    summary_parser.add_argument("--markdown", type=Path, help="write the tables and plots to this Markdown file")
    summary_parser.add_argument("--plots", type=Path, help="where the PNGs go (default: beside --markdown or "
                                "--csv, else <first dir>/summary)")
    summary_parser.add_argument("--no-plots", action="store_true", help="the table and exports only")
    best_parser = commands.add_parser("best", help="write each model's best options as an experiment config")
    best_parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")])
    best_parser.add_argument("--out", type=Path, help="where the configs go (default: <config dir>/experiment)")
    best_parser.add_argument("--metric", default="val_f1", choices=["val_f1", "val_acc", "val_loss"])
    status_parser = commands.add_parser("status", help="where each job of a sweep stands, and its logs")
    status_parser.add_argument("sweep_dir", type=Path)
    sync_parser = commands.add_parser("sync", help="upload a sweep's offline W&B runs (wandb sync)")
    sync_parser.add_argument("sweep_dir", type=Path)
    sync_parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    interactive_parser = commands.add_parser("interactive", help="pick models, categories and a launcher from menus")
    interactive_parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    run_parser = commands.add_parser("run", help="the seed runner's flags, forwarded to run_experiments.py -m")
    run_parser.add_argument("--models", nargs="+", default=[], help="model config names (conf/model/*.yaml)")
    run_parser.add_argument("--categories", nargs="+", default=[], help="categories to sweep")
    run_parser.add_argument("--all", action="store_true", help="every model and every category (all x all)")
    run_parser.add_argument("--launcher", default="basic", help="basic, local or slurm")
    run_parser.add_argument("--matrix", action="store_true", help="show the jobs instead of running them")
    run_parser.add_argument("--summary", action="store_true", help="summarise outputs/ instead of running")
    run_parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    args = parser.parse_args(argv)
    if not args.config_dir.is_dir():
        parser.error(f"--config-dir {args.config_dir}: no such directory (run from the project root)")
    if args.command == "matrix":
        return matrix(args.config_dir, args.overrides, args.results)
    if args.command == "summary":
        return summary(args.directories, args.csv, args.markdown, args.plots, draw=not args.no_plots)
    if args.command == "best":
        return best(args.config_dir, args.directories, args.out, args.metric)
    if args.command == "status":
        from hpsweep.sweep.status import print_status

        return print_status(args.sweep_dir)
    if args.command == "sync":
        return sync(args.sweep_dir, args.dry_run)
    if args.command == "interactive":
        from hpsweep.sweep.interactive import interactive

        return interactive(args.config_dir, args.overrides)
    if args.command == "run":
        return run(args, run_parser)
    return check(args.config_dir, args.overrides)


def run(args, parser: argparse.ArgumentParser) -> int:
    """``hpsweep run --models A B --categories X Y``: the seed runner's habits on top of the Hydra command."""
    from hpsweep.sweep.interactive import launch, sweep_command

    if args.summary:
        return summary([Path("outputs")], None, None, None)
    # --models/--categories take every following word; those with "=" are Hydra overrides
    overrides = [word for word in args.models + args.categories if "=" in word] + args.overrides
    models = [word for word in args.models if "=" not in word]
    categories = [word for word in args.categories if "=" not in word]
    if args.all:
        models, categories = ["all"], ["all"]
    if not models or not categories:
        parser.error("name --models and --categories, or --all")
    if args.matrix:
        return matrix(args.config_dir, [f"model={','.join(models)}", f"category={','.join(categories)}",
                                        *overrides], [Path("outputs")])
    return launch(sweep_command(args.config_dir, models, categories, args.launcher, overrides))


if __name__ == "__main__":
    sys.exit(main())
