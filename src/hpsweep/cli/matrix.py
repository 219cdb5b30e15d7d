"""``hpsweep matrix``: every row a sweep command line asks about and the trainings that answer them (rows whose config
is the base's share its training), with run names and, where past results exist, time estimates."""

from dataclasses import dataclass, field
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from hpsweep.cli.jobs import describe_jobs, done_in
from hpsweep.core.display import console, format_duration, print_table, say, say_error, table
from hpsweep.core.errors import ConfigError
from hpsweep.core.hydra_private import many_compositions, read_files_once
from hpsweep.sweep.estimates import Estimator
from hpsweep.sweep.plan import PlanRequest, compared_rows, control_key, group_choices, plan_jobs
from hpsweep.sweep.racing import training_bounds
from hpsweep.sweep.settings import SweepSettings
from hpsweep.sweep.stages import stage_categories


@dataclass
class Asked:
    """What a sweep command line asks for, planned as the sweeper plans it, and each training described."""

    trainings: list
    described: list[dict]
    stages: list[str]  # a greedy sweep's categories in order; none for a union
    racing: bool
    share_trajectories: bool
    race_from: int
    n_trials: int
    sweep_dir: Path | None  # named on the command line: what is done there is counted, not estimated
    done: set
    new_data: int  # trainings new only because the files they read changed
    stopped: dict  # trainings racing stopped in the named sweep dir: never to run (their state, in words)


@dataclass
class Shown:
    """What the tables showed: a table per model, each training's estimate, and the trainings not trained apart."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)  # model -> its table's rows
    estimates: list[float | None] = field(default_factory=list)
    answered: int = 0  # answered from the base's trajectory
    same: set = field(default_factory=set)  # the base's config: trained once, with it
    titles: dict[str, str] = field(default_factory=dict)  # model -> the line above its table


COLUMNS = ("category", "option", "replicate", "training", "run name", "estimate")
LEAVE_OUT = ("run name", "replicate", "training")  # the first to go where the terminal is narrow


def run(args, parser) -> int:
    return matrix(args.config_dir, args.overrides, args.results)


def matrix(config_dir: Path, arguments: list[str], results: list[Path]) -> int:
    """Print every row a sweep command line asks about and the trainings that answer them (rows whose config
    is the base's share its training), with run names and, where past results exist, time estimates."""
    try:
        asked = ask(config_dir, arguments)
    except (HydraException, ConfigError) as error:
        say_error(str(error))
        return 1
    # the sweep dir the command line names holds the likeliest past results: this sweep's own
    looked_in = [*results, *([asked.sweep_dir] if asked.sweep_dir and asked.sweep_dir.is_dir()
                             and asked.sweep_dir not in results else [])]
    estimator = Estimator.from_results(looked_in)
    out = console()
    shown = show_trainings(out, asked, estimator)
    show_totals(out, asked, shown)
    show_time(out, asked, shown, estimator, looked_in)
    return 0


def ask(config_dir: Path, arguments: list[str]) -> Asked:
    """Plan ``arguments`` with the app's config and the sweeper's settings (the command line's over the config's)."""
    with initialize_config_dir(config_dir=str(config_dir.resolve()), version_base="1.3"), \
            many_compositions():
        loader = GlobalHydra.instance().config_loader()
        # one composition per option: each file read once for all of them, the first composition's reads shared
        # with the processes the others are forked into
        read_files_once(loader)
        master = compose(config_name="config", overrides=[], return_hydra_config=True)
        overrides = OverridesParser.create(config_loader=loader).parse_overrides(arguments)
        sweeper, defaults = master.hydra.sweeper, SweepSettings()

        def setting(key: str):
            return next((item.split("=", 1)[1] for item in arguments if item.startswith(f"hydra.sweeper.{key}=")),
                        sweeper.get(key, getattr(defaults, key)))

        replicate_keys = list(sweeper.get("replicates", []))
        key, value = control_key(master, replicate_keys)
        request = PlanRequest(loader.get_group_options, list(sweeper.categories), group_choices(master),
                              replicate_keys, control_seeds=int(setting("control_seeds")), control_key=key,
                              control_base=value)
        trainings = plan_jobs(overrides, request)

        def compose_job(job):
            return loader.load_sweep_config(master, list(job.overrides))

        described = describe_jobs(trainings, compose_job)
        sweep_dir = next((Path(item.split("=", 1)[1]) for item in arguments
                          if item.startswith("hydra.sweep.dir=")), None)
        done, new_data, stopped = done_in(sweep_dir, trainings, compose_job) if sweep_dir else (set(), 0, {})
        return Asked(trainings, described,
                     stage_categories(overrides, request) if setting("strategy") == "greedy" else [],
                     racing=str(setting("racing")).lower() == "true",
                     share_trajectories=str(setting("share_trajectories")).lower() == "true",
                     race_from=int(setting("race_from")), n_trials=sweeper.get("n_trials", 0), sweep_dir=sweep_dir,
                     done=done, new_data=new_data, stopped=stopped)


def show_trainings(out, asked: Asked, estimator: Estimator) -> Shown:
    """A table per model: each training's row, replicate, what trains it, its run name and its estimate."""
    shown = Shown()
    stages, done, stopped = asked.stages, asked.done, asked.stopped
    bases = {(training.model, training.setting): about
             for training, about in zip(asked.trainings, asked.described, strict=True) if training.is_base}
    for training, about in zip(asked.trainings, asked.described, strict=True):
        model = about["model"]
        if model not in shown.tables:
            shown.tables[model] = []
            shown.titles[model] = f"{model} (W&B project {about['project']})"
        # an option that differs from the base only in when it stops is answered from the base's trajectory; one
        # that composes to the base's config (augmentation=none against the base's null) is the base's training
        base = bases.get((training.model, training.setting), {})
        identical = not training.is_base and about["config"] is not None and about["config"] == base.get("config")
        later = stages.index(training.category) if training.category in stages[1:] else 0  # the base: stage 1
        searched = about["search"] is not None and training.category is not None
        seconds = None if later or identical or training in done or training in stopped else estimator.seconds(
            model, training.category, training.option, about["epochs"], about["image_size"])
        if seconds is not None and searched:
            seconds *= asked.n_trials
        shown.estimates.append(seconds)
        trajectory = not training.is_base and not identical and about["trajectory"] is not None and \
            about["trajectory"] == base.get("trajectory")
        shown.answered += trajectory and asked.share_trajectories
        if identical:
            shown.same.add(training)
        what = _what_trains(asked, training, later, searched, identical, trajectory)
        option = training.option + "".join(f" {item}" for item in training.setting)
        shown.tables[model].append((training.category or "-", option, training.replicate_label, what,
                                    "" if later else f"{about['label']}_<ts>",
                                    "done" if training in done else stopped[training] if training in stopped
                                    else format_duration(seconds) if seconds is not None else ""))
    for model, cells in shown.tables.items():
        say(out, shown.titles[model], style="bold")
        kept = [number for number in range(len(COLUMNS)) if any(row[number] for row in cells)]  # none empty
        view = table(*(COLUMNS[number] for number in kept), right=("estimate",))
        for row in cells:
            view.add_row(*(row[number] for number in kept))
        print_table(out, view, leave_out=LEAVE_OUT, more="a wider terminal")
    return shown


def _what_trains(asked: Asked, training, later: int, searched: bool, identical: bool, trajectory: bool) -> str:
    # what the base also answers is said once below the tables, not in a cell
    return f"decided after stage {later}" if later else f"{asked.n_trials} trials" if searched else \
        "base's control seed" if training.control else ("base" if training.is_base
        else "base's training (same config)" if identical
        else "base's trajectory" if trajectory and asked.share_trajectories else "own")


def show_totals(out, asked: Asked, shown: Shown) -> None:
    """The counts under the tables: rows, trainings, control seeds, shared trainings, racing's bounds, stages."""
    trainings, same = asked.trainings, shown.same
    rows = compared_rows(trainings)
    categories = list(dict.fromkeys(row.category for row in rows if row.category))
    replicates = len({training.replicate for training in trainings if not training.control})
    controls = sum(training.control for training in trainings)
    shared = sorted({f"{row.category}/{row.option}" for training in trainings if training.is_base
                     for row in training.rows if row.category})
    say(out, f"{len(rows)} rows: {len(shown.tables)} model(s) x {len(categories) or 'no'} categories"
        + (f" ({', '.join(categories)})" if categories else "") + (f", {replicates} replicates each" if replicates > 1
                                                                   else ""))
    say(out, f"{len(trainings) - len(same)} trainings" + (f": each model's base also answers {', '.join(shared)}"
                                                       if shared else ""))
    if controls:
        say(out, f"{controls} of them the base's control seeds ({controls // len(shown.tables)} more seeds per model: "
          "with no seed swept, each option's one run is tested against the base's seed luck; "
          "hydra.sweeper.control_seeds=0 turns them off, and no option can then win)")
    if same:
        names = sorted({f"{training.category}/{training.option}" for training in same})
        say(out, f"{', '.join(names)}: the same config as the base (equal in effect): trained once, with it")
    if shown.answered:
        say(out, f"{shown.answered} of them share the base's trajectory (they differ from it only in when they stop): "
          "answered by the base's training, continued until the longest patience stops")
    fewest, most = training_bounds([training for training in trainings if training not in same], asked.race_from)
    if asked.racing and fewest < most:
        say(out, f"racing: {fewest} to {most} trainings (at fewest, every option is decided after {asked.race_from} "
          f"replicate(s), the base one ahead; hydra.sweeper.racing=false trains all {most})")
    if asked.stages:
        say(out, "greedy: " + " -> ".join(f"stage {number} {name}" for number, name in enumerate(asked.stages, 1))
          + "; each stage's base carries the winners before it")


def show_time(out, asked: Asked, shown: Shown, estimator: Estimator, results: list[Path]) -> None:
    """What is done in the named sweep dir, what is new there, and the time the rest is estimated to take."""
    done = asked.done - shown.same  # counted once, as the base
    trainings = len(asked.trainings) - len(shown.same)
    left = trainings - len(done) - len(asked.stopped)
    if done or asked.stopped:
        raced = f", {len(asked.stopped)} not trained (racing decided their rows)" if asked.stopped else ""
        say(out, f"{len(done)} of {trainings} trainings are done in {asked.sweep_dir}{raced}: "
          + ("the rest is estimated" if left else "nothing is left to run"))
    if asked.new_data:
        say(out, f"{asked.new_data} of them are new: the data they read changed since they were trained in "
          f"{asked.sweep_dir}")
    if left:
        say(out, estimator.describe([seconds for seconds in shown.estimates if seconds is not None], left,
                                    {about["model"] for about in asked.described}, results))
