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
import multiprocessing
import os
import sys
from datetime import datetime
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import OmegaConf

from hpsweep.core import naming
from hpsweep.core.compose import compose_config, group_files, missing_option
from hpsweep.core.errors import ConfigError
from hpsweep.core.fingerprints import task_config
from hpsweep.core.records import read_result
from hpsweep.sweep.trajectories import trajectory_key

HELP_FORMAT = argparse.RawDescriptionHelpFormatter  # keeps the examples' lines; nothing here imports torch


def check(config_dir: Path, overrides: list[str]) -> int:
    """Compose and validate one experiment; print its names and resolved config, or every problem."""
    from hpsweep.train.validation import validate

    try:
        cfg = compose_config(config_dir, overrides)
        validate(cfg)
    except (HydraException, ConfigError) as error:
        print(f"error: {missing_option(str(error), lambda group: group_files(config_dir, group)) or error}",
              file=sys.stderr)
        return 1
    choices = dict(cfg.hydra.runtime.choices)
    name = naming.run_name(cfg, choices, naming.overridden_groups(overrides), datetime.now())
    project = naming.wandb_project(cfg)
    task = task_config(cfg)
    print(OmegaConf.to_yaml(task, resolve=True))
    print(f"model: {cfg.model.name}\nW&B project: {project}\nrun name: {name}")
    return 0


def status(sweep_dir: Path) -> int:
    """Each training's state, what the sweep's verdicts say so far (each category's choice, and the sweep's expected
    false wins), and the count of every state."""
    from hpsweep.decide.answers import answer
    from hpsweep.decide.results import load
    from hpsweep.report.summary import correction_line
    from hpsweep.sweep.status import print_status

    def verdicts() -> list[str]:
        groups = answer(sweep for sweep in load([sweep_dir]) if sweep.directory == sweep_dir)
        return [f"{group.model or 'sweep'}: "
                + "; ".join(f"{item.category}: {_choice(item.verdict)}" for item in group.categories)
                + f" ({correction_line(group)})" for group in groups if group.categories]

    return print_status(sweep_dir, verdicts)


def _choice(verdict) -> str:
    if verdict.winner is None:
        return "no winner"
    if verdict.kept_base:
        return "base kept" + (f" ({verdict.top} untested against seed luck)" if verdict.untested else "")
    return f"{verdict.winner} wins"


def matrix(config_dir: Path, arguments: list[str], results: list[Path]) -> int:
    """Print every row a sweep command line asks about and the trainings that answer them (rows whose config
    is the base's share its training), with run names and, where past results exist, time estimates."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from rich.table import Table

    from hpsweep.core.display import console, format_duration
    from hpsweep.sweep.estimates import Estimator
    from hpsweep.sweep.plan import PlanRequest, compared_rows, control_key, group_choices, plan_jobs
    from hpsweep.sweep.racing import training_bounds
    from hpsweep.sweep.settings import SweepSettings
    from hpsweep.sweep.stages import stage_categories

    try:
        with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"):
            master = compose(config_name="config", overrides=[], return_hydra_config=True)
            loader = GlobalHydra.instance().config_loader()
            overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
            sweeper, defaults = master.hydra.sweeper, SweepSettings()
            def setting(key: str):
                return next((item.split("=", 1)[1] for item in arguments if item.startswith(f"hydra.sweeper.{key}=")),
                            sweeper.get(key, getattr(defaults, key)))

            strategy = setting("strategy")
            racing = str(setting("racing")).lower() == "true"
            share_trajectories = str(setting("share_trajectories")).lower() == "true"
            race_from = int(setting("race_from"))
            replicate_keys = list(sweeper.get("replicates", []))
            key, value = control_key(master, replicate_keys)
            request = PlanRequest(loader.get_group_options, list(sweeper.categories), group_choices(master),
                                  replicate_keys, control_seeds=int(setting("control_seeds")), control_key=key,
                                  control_base=value)
            trainings = plan_jobs(overrides, request)
            stages = stage_categories(overrides, request) if strategy == "greedy" else []
            described = describe_jobs(trainings, lambda job: loader.load_sweep_config(master, list(job.overrides)))
            n_trials = sweeper.get("n_trials", 0)
            # a sweep dir named on the command line: what is done there is counted, not estimated
            sweep_dir = next((Path(item.split("=", 1)[1]) for item in arguments
                              if item.startswith("hydra.sweep.dir=")), None)
            done, new_data = done_in(sweep_dir, trainings, lambda job: loader.load_sweep_config(
                master, list(job.overrides))) if sweep_dir else (set(), 0)
    except (HydraException, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    estimator = Estimator.from_results(results)
    out = console()
    tables: dict[str, Table] = {}
    estimates = []
    bases = {(training.model, training.setting): about
             for training, about in zip(trainings, described, strict=True) if training.is_base}
    answered, same = 0, set()  # `same`: trainings whose config is the base's (not trained of their own)
    for training, about in zip(trainings, described, strict=True):
        model = about["model"]
        if model not in tables:
            tables[model] = Table(title=f"{model}  (W&B project {about['project']})", title_justify="left")
            for column in ("category", "option", "replicate", "training", "run name", "estimate"):
                tables[model].add_column(column)
        # an option that differs from the base only in when it stops is answered from the base's trajectory; one
        # that composes to the base's config (augmentation=none against the base's null) is the base's training
        base = bases.get((training.model, training.setting), {})
        identical = not training.is_base and about["config"] is not None and about["config"] == base.get("config")
        later = stages.index(training.category) if training.category in stages[1:] else 0  # the base: stage 1
        searched = about["search"] is not None and training.category is not None
        seconds = None if later or identical or training in done else estimator.seconds(
            training.model, training.category, training.option, about["epochs"], about["image_size"])
        if seconds is not None and searched:
            seconds *= n_trials
        estimates.append(seconds)
        shared = [f"{row.category}/{row.option}" for row in training.rows if row.category]
        trajectory = not training.is_base and not identical and about["trajectory"] is not None and \
            about["trajectory"] == base.get("trajectory")
        answered += trajectory and share_trajectories
        if identical:
            same.add(training)
        what = f"decided after stage {later}" if later else f"{n_trials} trials" if searched else \
            "base's control seed" if training.control else (
            f"base, answers {', '.join(shared)}" if training.is_base and shared else "base" if training.is_base
            else "base's training (same config)" if identical
            else "base's trajectory" if trajectory and share_trajectories else "own")
        option = training.option + "".join(f" {item}" for item in training.setting)
        tables[model].add_row(training.category or "-", option, training.replicate_label, what,
                              "" if later else f"{about['label']}_<ts>",
                              "done" if training in done else format_duration(seconds) if seconds is not None else "")
    for table in tables.values():
        out.print(table)
    rows = compared_rows(trainings)
    categories = list(dict.fromkeys(row.category for row in rows if row.category))
    replicates = len({training.replicate for training in trainings if not training.control})
    controls = sum(training.control for training in trainings)
    shared = sorted({f"{row.category}/{row.option}" for training in trainings if training.is_base
                     for row in training.rows if row.category})
    out.print(f"{len(rows)} rows: {len(tables)} model(s) x {len(categories) or 'no'} categories"
              + (f" ({', '.join(categories)})" if categories else "")
              + (f", {replicates} replicates each" if replicates > 1 else ""))
    out.print(f"{len(trainings) - len(same)} trainings" + (f": each model's base also answers {', '.join(shared)}"
                                                 if shared else ""))
    if controls:
        out.print(f"{controls} of them the base's control seeds ({controls // len(tables)} more seeds per model: with "
                  "no seed swept, each option's one run is tested against the base's seed luck; "
                  "hydra.sweeper.control_seeds=0 turns them off, and no option can then win)")
    if same:
        names = sorted({f"{training.category}/{training.option}" for training in same})
        out.print(f"{', '.join(names)}: the same config as the base (equal in effect): trained once, with it")
    if answered:
        out.print(f"{answered} of them share the base's trajectory (they differ from it only in when they stop): "
                  "answered by the base's training, continued until the longest patience stops")
    fewest, most = training_bounds([training for training in trainings if training not in same], race_from)
    if racing and fewest < most:
        out.print(f"racing: {fewest} to {most} trainings (at fewest, every option is decided after {race_from} "
                  f"replicate(s) against the base's seeds; hydra.sweeper.racing=false trains all {most})")
    if stages:
        out.print("greedy: " + " -> ".join(f"stage {number} {name}" for number, name in enumerate(stages, 1))
                  + "; each stage's base carries the winners before it")
    done -= same  # counted once, as the base
    left = len(trainings) - len(same) - len(done)
    if done:
        out.print(f"{len(done)} of {len(trainings) - len(same)} trainings are done in {sweep_dir}: "
                  + ("the rest is estimated" if left else "nothing is left to run"), soft_wrap=True, markup=False)
    if new_data:
        out.print(f"{new_data} of them are new: the data they read changed since they were trained in {sweep_dir}",
                  soft_wrap=True, markup=False)
    if left:
        out.print(estimator.describe([seconds for seconds in estimates if seconds is not None], left,
                                     {training.model for training in trainings}, results), soft_wrap=True,
                  markup=False)
    return 0


def done_in(sweep_dir: Path, trainings: list, compose_job) -> tuple[set, int]:
    """The trainings completed in ``sweep_dir``, found as the sweeper finds them: by the fingerprint of each
    one's composed config and the files it reads (another config's result in the same directory is not this
    training's); and how many trainings are new only because those files changed."""
    from hpsweep.core.fingerprints import fingerprint
    from hpsweep.core.manifest import read_manifest, recorded_fingerprints
    from hpsweep.data.digests import DataDigests
    from hpsweep.sweep.plan import existing_jobs

    if not sweep_dir.is_dir():
        return set(), 0
    manifest = read_manifest(sweep_dir)
    existing = existing_jobs(sweep_dir, recorded_fingerprints(manifest))
    trained_on = {entry["config_fingerprint"]: entry.get("data_digest") for entry in (manifest or {}).get(
        "trainings", []) if entry.get("config_fingerprint")}
    digests = DataDigests()  # each data set digested once
    done, new_data = set(), 0
    for training in trainings:
        cfg = compose_job(training)
        data, job_fingerprint = digests.digest_of(cfg), digests.fingerprint(cfg)
        result = read_result(existing[job_fingerprint]) if job_fingerprint in existing else None
        if result and result.get("status") == "completed" and result.get("fingerprint") == job_fingerprint:
            done.add(training)
        elif trained_on.get(fingerprint(cfg), data) != data:
            new_data += 1
    return done, new_data


def describe_jobs(jobs: list, compose_job) -> list[dict]:
    """What the matrix shows of each job: its timm model name, W&B project, run label, epochs, image size and
    search space, composing as few configs as possible.

    Hydra takes about 75 ms to compose one config, too slow to do 68 times, and jobs that differ only
    in their model share everything but the model's names: the first job of each model and of each option
    are composed (on every core at once), and then only jobs whose option's name template reads the model's
    config.
    """
    first_of_model, first_of_option = {}, {}
    for number, job in enumerate(jobs):
        first_of_model.setdefault(job.model, number)
        first_of_option.setdefault(_option_key(job), number)
    described = _describe(sorted(set(first_of_model.values()) | set(first_of_option.values())), jobs, compose_job)
    exact = [number for number, job in enumerate(jobs)
             if number not in described and described[first_of_option[_option_key(job)]]["reads_model"]]
    described |= _describe(exact, jobs, compose_job)
    return [{**described[number if number in described else first_of_option[_option_key(job)]],
             **{key: described[first_of_model[job.model]][key] for key in ("model", "project")}}
            for number, job in enumerate(jobs)]


def _option_key(job) -> tuple:
    return tuple(item for item in job.overrides if not item.startswith("model="))


_FORK_STATE: tuple | None = None  # (jobs, compose_job), inherited by forked workers


def _describe(numbers: list[int], jobs: list, compose_job) -> dict[int, dict]:
    """Compose the given jobs, in parallel processes forked from this one (which already holds Hydra's
    state) when there are enough of them to pay for it."""
    global _FORK_STATE
    _FORK_STATE = (jobs, compose_job)
    workers = min(os.cpu_count() or 1, len(numbers))
    if workers < 2 or len(numbers) < 8 or "fork" not in multiprocessing.get_all_start_methods():
        return dict(zip(numbers, map(_describe_one, numbers), strict=True))
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return dict(zip(numbers, pool.map(_describe_one, numbers), strict=True))


def _describe_one(number: int) -> dict:
    jobs, compose_job = _FORK_STATE
    job = jobs[number]
    cfg = compose_job(job)
    template = OmegaConf.to_container(cfg.get("run_name_parts") or {}, resolve=False).get(job.category)
    return {
        "model": cfg.model.name, "project": naming.wandb_project(cfg),
        "reads_model": "${model" in str(template),  # the option's run name differs per model
        "label": naming.run_label(cfg, dict(cfg.hydra.runtime.choices), naming.overridden_groups(list(job.overrides))),
        "epochs": cfg.trainer.max_epochs, "image_size": cfg.data.image_size,
        "search": OmegaConf.to_container(cfg.search) if cfg.get("search") else None,
        "trajectory": trajectory_key(cfg, option_only=True),
        "config": trajectory_key(cfg, option_only=True, stops=True),  # equal to the base's: trained once with it
    }


def summary(directories: list[Path], csv_path: Path | None, markdown_path: Path | None, json_path: Path | None,
            plots_dir: Path | None, draw: bool = True, metric: str | None = None, direction: str | None = None) -> int:
    """Print the answer of every sweep under ``directories`` (decided by ``metric`` where given); write the
    exports and (unless ``draw`` is False) the plots."""
    from hpsweep.decide.answers import answer
    from hpsweep.report import plots
    from hpsweep.report.summary import print_summary, rows, write_csv, write_json, write_markdown

    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    groups = answer(sweeps)
    print_summary(groups, sweeps)
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
    for path in filter(None, (csv_path, json_path, markdown_path, *images)):
        print(f"wrote {path}")
    from hpsweep.report.page import default_path

    for sweep in sweeps:
        if (page := default_path(sweep.directory)).is_file():
            print(f"report: {page} (open it in a browser; hpsweep report rewrites it)")
    return 0


def report(directories: list[Path], out: Path | None, metric: str | None, direction: str | None) -> int:
    """Write the sweeps' page (``hpsweep.report.page``): by default ``<first dir>/report/index.html``."""
    from hpsweep.report.page import default_path, write

    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    print(f"wrote {write(sweeps, out or default_path(directories[0]))}")
    return 0


def load_sweeps(directories: list[Path], metric: str | None, direction: str | None) -> list | None:
    """The sweeps under ``directories``, decided by ``metric`` where given; None, having said why, where a path
    does not exist, nothing is there, or no training recorded the metric."""
    from hpsweep.decide.results import decide_by, load

    if missing_paths(directories):
        return None
    sweeps = load(directories)
    if not sweeps:
        print(f"error: no result.json or sweep.json under {', '.join(map(str, directories))}", file=sys.stderr)
        return None
    try:
        decide_by(sweeps, metric, direction)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return None
    return sweeps


def best(directories: list[Path], out_dir: Path | None, metric: str | None, direction: str | None, verify: bool,
         verify_overrides: list[str]) -> int:
    """Write each comparison's choices (decided by ``metric`` where given) as an experiment config; with
    ``verify``, train the combination against the base."""
    from hpsweep.decide.answers import answer
    from hpsweep.report.best import write_best

    sweeps = load_sweeps(directories, metric, direction)
    if sweeps is None:
        return 1
    try:
        written = write_best(answer(sweeps), out_dir, [str(directory) for directory in directories])
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not written:
        print(f"error: no category sweep with results under {', '.join(map(str, directories))}", file=sys.stderr)
        return 1
    for _, path, command in written:
        print(f"wrote {path}\n  run it: {command}")
    if verify:
        from hpsweep.report.verify import verify as verify_one

        reports = [verify_one(recommendation, path.parent.parent, verify_overrides)
                   for recommendation, path, _ in written]
        return 0 if all(report["trust"] is not False for report in reports) else 2
    return 0


def predict(run_dir: Path, images_dir: Path, out: Path, tta: list[str] | None) -> int:
    """A finished run's best weights predict a folder of images."""
    from hpsweep.train.predictions import predict_folder

    try:
        written = predict_folder(run_dir, images_dir, out, tta)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


def ensemble(directories: list[Path], out: Path) -> int:
    """Average the test probabilities of the runs found into one submission; report its out-of-fold F1."""
    from hpsweep.report.ensemble import ensemble as average

    try:
        report = average(directories, out)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"ensemble of {len(report['runs'])} runs, each weighing {report['weight']:.4g}:")
    for run in report["runs"]:
        print(f"  {run}")
    if report["oof_f1"] is not None:
        print(f"macro F1 {report['oof_f1']:.4f}: {report['oof']}")
    else:
        print(report["oof"])
    print(f"wrote {report['out']} ({report['images']} test images)")
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


def missing_paths(paths: list[Path]) -> bool:
    """Say which of ``paths`` do not exist (a typo, or the wrong directory to run from)."""
    missing = [path for path in paths if not path.exists()]
    for path in missing:
        print(f"error: {path} does not exist (relative paths start at {Path.cwd()})", file=sys.stderr)
    return bool(missing)


def add_metric_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="decide by this metric of every training's result.json instead of the "
                        "sweep's, by the same rule: val_f1, val_acc, val_loss, val_f1_distorted, val_f1_tta, ...")
    parser.add_argument("--direction", choices=("max", "min"), help="whether higher or lower is better (default: "
                        "min for a loss, else max)")


def main(argv: list[str] | None = None) -> int:
    try:
        return command_line(argv)
    except BrokenPipeError:  # piped into head, or a pager that quit: no traceback, as rich's console does it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
        return 1


def command_line(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="hpsweep", description=__doc__, formatter_class=HELP_FORMAT)
    parser.add_argument("--config-dir", type=Path, default=Path("conf"),
                        help="the Hydra config directory, for check, matrix, interactive and run (default: ./conf)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, description=f"{summary}.\n\n{description}",
                                   formatter_class=HELP_FORMAT)

    check_parser = command("check", "compose and validate one config without training",
                           "Prints the resolved config, its W&B project and run name, or every problem found.")
    check_parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for run_experiments.py")
    matrix_parser = command("matrix", "list the rows and trainings of a sweep without running them",
                            "Shows each model's rows, which rows share a training (the base), and time estimates "
                            "from past results.")
    matrix_parser.add_argument("overrides", nargs="*", help="sweep overrides, as for run_experiments.py -m")
    matrix_parser.add_argument("--results", type=Path, nargs="*", default=[Path("outputs")],
                               help="where past result.json files are, for time estimates (default: outputs)")
    summary_parser = command("summary", "what won: tables, exports and plots of sweeps",
                             "Per sweep, model and setting: each option's replicates (n, mean, std, min, max), its "
                             "difference to the base and the test behind it, and each category's choice. Works from "
                             "any directory: it reads only the sweep dirs' files.")
    summary_parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")],
                                help="sweep dirs, or outputs/ for every sweep (default: outputs)")
    summary_parser.add_argument("--csv", type=Path, help="write one row per option to this CSV file")
    summary_parser.add_argument("--json", type=Path, help="write one object per option to this JSON file")
    summary_parser.add_argument("--markdown", type=Path, help="write the tables and plots to this Markdown file")
    summary_parser.add_argument("--plots", type=Path, help="write the PNG plots into this folder (by default beside "
                                "--markdown, --csv or --json; with none of them, no file is written)")
    summary_parser.add_argument("--no-plots", action="store_true", help="the table and exports only")
    add_metric_arguments(summary_parser)
    report_parser = command("report", "one HTML page of sweeps' answers, to open in a browser",
                            "Self-contained (inline styles, plots and a few lines of script; no network): each "
                            "category's table, verdict and plots, the best config, the cost, the progress, and every "
                            "failed, pruned or eliminated training with its reason. A running sweep keeps its own "
                            "page current (<sweep dir>/report/index.html, reloading itself).")
    report_parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")])
    report_parser.add_argument("--out", type=Path,
                               help="the HTML file to write (default: <first dir>/report/index.html)")
    add_metric_arguments(report_parser)
    best_parser = command("best", "write each comparison's choices as an experiment config",
                          "The config sets each category's choice (the base where the winner is within noise of "
                          "it) and the sweep's fixed overrides, so it trains as compared. --verify trains the "
                          "combination with the same replicates and compares it with the base.")
    best_parser.add_argument("directories", type=Path, nargs="*", default=[Path("outputs")])
    best_parser.add_argument("--out", type=Path, help="a config dir to write experiment/best_<model>.yaml into "
                             "(default: <sweep dir>/best, outside your checkout)")
    add_metric_arguments(best_parser)
    best_parser.add_argument("--verify", action="store_true", help="train the combination and compare it with the base")
    best_parser.add_argument("verify_overrides", nargs="*", metavar="override",
                             help="extra overrides for the --verify runs (e.g. hydra/launcher=local)")
    status_parser = command("status", "where each training of a sweep stands, and its logs",
                            "Asks SLURM (squeue) about trainings that started under it and left no result.")
    status_parser.add_argument("sweep_dir", type=Path)
    predict_parser = command("predict", "a finished run predicts a folder of images",
                             "Its best_model.pt and config build the model and evaluation transform (on a GPU when "
                             "there is one); writes id, label and one probability per class.")
    predict_parser.add_argument("run_dir", type=Path)
    predict_parser.add_argument("images_dir", type=Path)
    predict_parser.add_argument("--out", type=Path, required=True, help="the CSV to write")
    predict_parser.add_argument("--tta", nargs="*", choices=["hflip", "vflip", "rot90", "rot180", "rot270"],
                                help="test-time augmentation views (default: the run's trainer.tta; --tta alone: none)")
    ensemble_parser = command("ensemble", "one submission from many runs' test probabilities",
                              "Averages every completed run under the dirs that predicted a test folder (a fold "
                              "sweep, seeds, models), in the sample submission's columns and order, and reports the "
                              "same ensemble's out-of-fold macro F1 where the runs validated on different folds.")
    ensemble_parser.add_argument("directories", type=Path, nargs="+")
    ensemble_parser.add_argument("--out", type=Path, required=True, help="the submission CSV to write")
    sync_parser = command("sync", "upload a sweep's offline W&B runs (wandb sync)",
                          "Run it where there is internet, e.g. a login node; runs already synced are skipped.")
    sync_parser.add_argument("sweep_dir", type=Path)
    sync_parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded")
    interactive_parser = command("interactive", "pick models, categories and a launcher from menus",
                                 "Shows the matrix, asks to confirm, then runs the command you could have typed.")
    interactive_parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    run_parser = command("run", "the seed runner's flags, forwarded to run_experiments.py -m",
                         "--models and --categories, or --all; --matrix shows the jobs instead.")
    run_parser.add_argument("--models", nargs="+", default=[], help="model config names (conf/model/*.yaml)")
    run_parser.add_argument("--categories", nargs="+", default=[], help="categories to sweep")
    run_parser.add_argument("--all", action="store_true", help="every model and every category (all x all)")
    run_parser.add_argument("--launcher", default="basic", help="basic, local or slurm")
    run_parser.add_argument("--matrix", action="store_true", help="show the jobs instead of running them")
    run_parser.add_argument("--summary", action="store_true", help="summarise outputs/ instead of running")
    run_parser.add_argument("overrides", nargs="*", help="extra overrides for every job")
    args = parser.parse_args(argv)
    if args.command == "summary":
        return summary(args.directories, args.csv, args.markdown, args.json, args.plots, not args.no_plots,
                       args.metric, args.direction)
    if args.command == "report":
        return report(args.directories, args.out, args.metric, args.direction)
    if args.command == "best":
        return best(args.directories, args.out, args.metric, args.direction, args.verify, args.verify_overrides)
    if args.command == "status":
        return status(args.sweep_dir)
    if args.command == "sync":
        return sync(args.sweep_dir, args.dry_run)
    if args.command == "predict":
        return predict(args.run_dir, args.images_dir, args.out, args.tta)
    if args.command == "ensemble":
        return ensemble(args.directories, args.out)
    if not args.config_dir.is_dir():  # the commands below compose configs
        parser.error(f"--config-dir {args.config_dir}: no such directory; run from the project root or point "
                     "--config-dir at the app's Hydra config dir")
    if args.command == "matrix":
        return matrix(args.config_dir, args.overrides, args.results)
    if args.command == "interactive":
        return interactive(args.config_dir, args.overrides)
    if args.command == "run":
        return run(args, run_parser)
    return check(args.config_dir, args.overrides)


def interactive(config_dir: Path, overrides: list[str]) -> int:
    """Pick models, categories and a launcher from menus, see the matrix, confirm, launch."""
    from hpsweep.sweep.interactive import confirm, launch, pick, sweep_command

    picked = pick(config_dir)
    if picked is None:
        return 1
    models, categories, launcher = picked
    if matrix(config_dir, [f"model={','.join(models)}", f"category={','.join(categories)}", *overrides],
              [Path("outputs")]) != 0:
        return 1
    if not confirm():
        print("nothing launched")
        return 0
    return launch(sweep_command(config_dir, models, categories, launcher, overrides))


def run(args, parser: argparse.ArgumentParser) -> int:
    """``hpsweep run --models A B --categories X Y``: the seed runner's habits on top of the Hydra command."""
    from hpsweep.sweep.interactive import launch, sweep_command

    if args.summary:
        return summary([Path("outputs")], None, None, None, None)
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

