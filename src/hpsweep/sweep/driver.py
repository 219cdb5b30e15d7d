"""The driver of a category sweep: plans rows and replicates, trains each distinct config once, checks every job
first, races replicates, shares trajectories, claims each training, launches through any Hydra launcher, isolates
failures, resumes, and reports. For any Hydra app; without ``category=`` it sweeps as Hydra's BasicSweeper does.

It takes the sweep's settings (``hpsweep.sweep.settings``), the app's primary config, Hydra's config loader and
the launcher; the sweeper plugin (``hydra_plugins.hpsweep_sweeper``) only maps Hydra's interface to it.
"""

import logging
from dataclasses import replace
from functools import cached_property
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

from hpsweep.core.compose import is_hpsweep_config, missing_option
from hpsweep.core.display import console, say
from hpsweep.core.errors import ConfigError, SweepFailedError
from hpsweep.core.fingerprints import fingerprints
from hpsweep.core.manifest import (
    read_manifest,
    recorded_fingerprints,
    training_entry,
    training_from_entry,
    write_manifest,
)
from hpsweep.core.metrics import direction, monitor
from hpsweep.core.statuses import RowStatus, TrainingStatus
from hpsweep.core.trainings import Training
from hpsweep.data.digests import DataDigests
from hpsweep.decide.answers import answer
from hpsweep.decide.results import load
from hpsweep.report.page import Keeper, default_path, refresh
from hpsweep.report.summary import print_answers
from hpsweep.sweep import stages, trajectories
from hpsweep.sweep.claims import Board
from hpsweep.sweep.composer import Composed, Composer, composition_error
from hpsweep.sweep.header import sweep_header
from hpsweep.sweep.launcher_kind import LauncherKind
from hpsweep.sweep.launching import Launching
from hpsweep.sweep.memory import check_fit
from hpsweep.sweep.outcomes import Outcome, collect_outcomes, counts
from hpsweep.sweep.plan import (
    PlanRequest,
    assign_directories,
    compared_rows,
    control_key,
    group_choices,
    merge_identical,
    plan_jobs,
)
from hpsweep.sweep.preflight import job_problems
from hpsweep.sweep.progress import Progress, fit_log_lines
from hpsweep.sweep.reruns import changed_data, driver_provenance, say_new_data, stale_code
from hpsweep.sweep.search import find_searches
from hpsweep.sweep.searching import run_searches
from hpsweep.sweep.settings import SweepSettings
from hpsweep.sweep.work_queue import pinned_gpus

log = logging.getLogger(__name__)


class Driver:
    """One run of a sweep by one process (several may run one sweep dir: ``hpsweep.sweep.claims``)."""

    def __init__(self, settings: SweepSettings, config: DictConfig, config_loader, launcher,
                 gpu_memory_gb: float | None = None):
        self.settings = settings
        self.config = config  # the app's primary config, Hydra's node included (the launcher holds the same one)
        self.config_loader = config_loader
        self.launcher = launcher
        self.launcher_kind = LauncherKind.of(launcher)  # what the launch loop asks, decided here once
        # hydra.launcher.gpu_memory_gb, taken out before the launcher saw it; else the sweeper's (Ray's launcher)
        self.gpu_memory_gb = gpu_memory_gb or settings.gpu_memory_gb
        self.digests = DataDigests()  # each data set of the sweep digested once
        self.made_of: dict[str, tuple[str, str | None]] = {}  # fingerprint -> (the config's alone, the data's)
        self.provenance: dict | None = None  # the driver's code and packages (another app's jobs record these)
        self.claims: Board | None = None  # this driver's claims on the trainings it launches
        self.page = None  # the keeper of the sweep's live page while this driver runs it (hpsweep.report.page)
        self.watch = None  # on Ray, once every node was seen to read the sweep dir: whether the cluster answers

    def close(self) -> None:
        """Stop beating for claims and keeping the page (the end of the sweep, or its error)."""
        if self.claims is not None:
            self.claims.close()
        if self.watch is not None:
            self.watch.stop()
        if self.page is not None:
            self.page.stop()
            self.page = None

    # --- planning -------------------------------------------------------------------------------------

    @property
    def hpsweep_app(self) -> bool:
        """Whether the app's config is hpsweep's (its checks and trainer apply), not another Hydra app's."""
        return is_hpsweep_config(self.config)

    @property
    def pinned(self) -> list[str]:
        """The GPUs a local work queue's workers are pinned to (none for any other launcher)."""
        return pinned_gpus(self.launcher, self.launcher_kind)

    @cached_property
    def composer(self) -> Composer:
        """Every job's config, each distinct choice of config files composed once."""
        return Composer(self.config_loader, self.config)

    def plan_request(self) -> PlanRequest:
        key, value = control_key(self.config, self.settings.replicates)
        return PlanRequest(self.config_loader.get_group_options, self.settings.categories, group_choices(self.config),
                           self.settings.replicates, has_category_key="category" in self.config,
                           control_seeds=self.settings.control_seeds, control_key=key, control_base=value)

    def decision_metric(self) -> tuple[str, str]:
        """(metric, direction) that decide winners (``decided_by`` says why)."""
        return self.decided_by()[:2]

    def decided_by(self) -> tuple[str, str, str]:
        """(metric, direction, why): the sweeper's settings, else what the trainer's early stopping monitors for
        hpsweep's app (``hpsweep.core.metrics.monitor``), else the task's return value, higher is better."""
        chosen = self.settings
        if chosen.metric:
            return chosen.metric, chosen.direction or direction(chosen.metric), "hydra.sweeper.metric"
        if self.hpsweep_app:
            metric, mode, why = monitor(self.config.early_stopping, self.config.get("data"))
            return metric, self.settings.direction or mode, why
        return "return_value", self.settings.direction or "max", "the task function's return value"

    def run(self, arguments: list[str]) -> list[list[JobReturn]]:
        """Plan, check, launch and report. Raises ``ConfigError`` for bad input (before anything runs) and
        ``SweepFailedError`` where any job failed. Returns the launcher's returns per batch, as Hydra's BasicSweeper
        does."""
        problems = self.settings.problems()
        if problems:
            raise ConfigError(problems)
        fit_log_lines()  # every line the driver logs fits the terminal
        if self.settings.pruning_on and not self.hpsweep_app:
            log.info("no pruning: it needs jobs that report every epoch (hpsweep's trainer); this app's jobs "
                     "report their return value")
            self.settings = replace(self.settings, pruner="none")
        self.provenance = driver_provenance()
        if self.settings.jobs_per_gpu > 1 and not self.pinned and \
                self.launcher_kind not in (LauncherKind.SLURM, LauncherKind.RAY):
            log.warning("hydra.sweeper.jobs_per_gpu=%d does nothing here: it shares GPUs between the workers of "
                        "hydra/launcher=local with hydra.launcher.gpus_per_node set, packs SLURM array tasks, or "
                        "asks Ray for a share of a GPU", self.settings.jobs_per_gpu)
        self.claims = Board(self.settings.resume, pruning=self.settings.pruning_on)
        self.claims.hand_to_jobs(self.config)  # the launcher's config too: it is the same object
        overrides = OverridesParser.create(config_loader=self.config_loader).parse_overrides(arguments)
        request = self.plan_request()
        sweep_dir = Path(self.config.hydra.sweep.dir)
        header = sweep_header(self.settings, self.config, arguments, overrides, request, self.decided_by(),
                              self.provenance)
        log.info("deciding by %s (%s): %s", header["metric"], header["direction"], header["decided_by"])
        if self.settings.resume and self.all_done_before(sweep_dir, header):
            return []
        if self.launcher_kind == LauncherKind.RAY:  # a wrong address said before anything is composed
            from hpsweep.sweep.on_ray import start  # Ray: only where a sweep runs on it

            start(self.launcher, self.settings.jobs_per_gpu)
        trainings = plan_jobs(overrides, request)
        composed = self.preflight(trainings)  # greedy: every stage's options, checked against the first base
        spaces = self.find_searches(trainings, [job.task for job in composed])
        if self.settings.strategy == "greedy":
            if spaces:
                raise ConfigError([f"{category}/{option}: a searched option runs in hydra.sweeper.strategy=union "
                                   "sweeps" for category, option in spaces])
            return self.run_greedy(header, overrides, request, trainings, sweep_dir)

        searched = [training for training in trainings if (training.category, training.option) in spaces]
        kept = [number for number, training in enumerate(trainings) if training not in searched]
        outcomes = self.prepare([trainings[n] for n in kept], [composed[n] for n in kept], sweep_dir)
        del composed  # the launcher composes each job itself: the driver holds no config while they run
        header["search_trials"] = len(searched) * self.settings.n_trials
        entries = {entry["directory"]: entry for entry in (self.entry(o, sweep_dir) for o in outcomes)}
        self.write_manifest(sweep_dir, header, list(entries.values()))
        self.refresh_report(sweep_dir, live=True)
        returns = self.launch(outcomes, sweep_dir)
        if searched:
            outcomes += run_searches(self, searched, spaces, sweep_dir, header, entries, returns)
        self.report(outcomes, sweep_dir)
        return returns

    def all_done_before(self, sweep_dir: Path, header: dict) -> bool:
        """A re-run of a finished sweep: the same plan (command line, settings, config files) as the manifest
        records, every training done (and every stage decided). Reports it without composing anything."""
        manifest = read_manifest(sweep_dir)
        if not manifest or manifest.get("plan_key") != header["plan_key"]:
            return False
        pruning = self.settings.pruning_on
        outcomes = [Outcome.of(training_from_entry(entry), sweep_dir / entry["directory"], entry["fingerprint"])
                    for entry in manifest["trainings"]]
        decided = len(stages.Decisions(sweep_dir).stages) == len(header["stages"])
        searched = sum(outcome.training.trial is not None for outcome in outcomes) >= manifest.get("search_trials", 0)
        if not decided or not searched:
            return False
        changed = changed_data(self.digests, manifest.get("data_sources", []))
        if changed:
            log.info("the data changed since the last run of this sweep (%s): planning again", changed)
            return False
        for outcome in outcomes:
            if outcome.done_before(pruning):
                outcome.status = RowStatus.SKIPPED
        rerun = self.settings.rerun
        if rerun == "stale_code" and stale_code(outcomes, self.provenance, rerun, say=False):
            return False
        if not self.launching().race(outcomes, sweep_dir).settled():  # a raced training is done once it is eliminated
            return False
        stale_code(outcomes, self.provenance, self.settings.rerun)
        log.info("every training of %s is done: nothing to run (hydra.sweeper.resume=false runs them again)",
                 sweep_dir)
        self.report(outcomes, sweep_dir, rewrite=False)
        return True

    def write_manifest(self, sweep_dir: Path, header: dict, entries: list[dict]) -> None:
        header["data_sources"] = self.digests.sources
        write_manifest(sweep_dir, header, entries)

    def run_greedy(self, header: dict, overrides: list[Override], request: PlanRequest,
                   union: list[Training], sweep_dir: Path) -> list[list[JobReturn]]:
        """Stage by stage: each category around the base carrying the winners of the stages before it."""
        categories = header["stages"]
        if not categories:
            raise ConfigError(["hydra.sweeper.strategy=greedy needs category=<categories, in the order to decide>"])
        metric, direction = self.decision_metric()
        decisions = stages.Decisions(sweep_dir)
        winners: dict[tuple, list[str]] = {}
        entries: dict[str, dict] = {}
        everything: dict[Path, Outcome] = {}
        returns: list[list[JobReturn]] = []
        for stage, category in enumerate(categories, start=1):
            trainings = stages.plan_stage(overrides, request, union, category, stage, winners)
            outcomes = self.prepare(trainings, None, sweep_dir)
            entries.update({entry["directory"]: entry for entry in (self.entry(o, sweep_dir) for o in outcomes)})
            self.write_manifest(sweep_dir, header, list(entries.values()))
            fingerprints = sorted(outcome.fingerprint for outcome in outcomes)
            # a decision stands while every training it was made from is still done
            done = all(outcome.status == RowStatus.SKIPPED for outcome in outcomes)
            recorded = decisions.recorded(stage, category, fingerprints) if done else None
            if recorded is None:
                returns += self.launch(outcomes, sweep_dir)
                collect_outcomes(outcomes, metric)
                recorded = decisions.decide(stage, category, fingerprints, winners, request)
            else:
                collect_outcomes(outcomes, metric)
                log.info("stage %d (%s) was decided in an earlier run of this sweep", stage, category)
            winners = {(item["model"], tuple(item["setting"])): item["overrides"] for item in recorded}
            stages.print_stage(stage, category, recorded)
            for outcome in outcomes:  # a stage's base is often the training that won the stage before
                everything.setdefault(outcome.directory, outcome)
        self.report(list(everything.values()), sweep_dir)
        return returns

    def report(self, outcomes: list[Outcome], sweep_dir: Path, rewrite: bool = True) -> None:
        """The sweep's end: each category's verdict in one sentence, what became of the trainings, and where to look
        next (``hpsweep status`` and the page hold the table of every training)."""
        metric, _ = self.decision_metric()
        collect_outcomes(outcomes, metric)
        page = None
        if rewrite:  # the page stops reloading: the sweep has ended
            if self.page is not None:
                self.page.stop()
                self.page = None
            page = self.refresh_report(sweep_dir, live=False)
        out = console()
        out.print()
        print_answers(answer(sweep for sweep in load([sweep_dir]) if sweep.directory == sweep_dir), out)
        say(out, counts(outcomes))
        say(out, f"next: hpsweep best {sweep_dir}  (the choices as a config)")
        say(out, f"hpsweep summary {sweep_dir}  (each option's numbers)", indent="      ")
        say(out, f"hpsweep status {sweep_dir}  (each row's trainings; --trainings: one line each)", indent="      ")
        if page is not None or (page := default_path(sweep_dir)).is_file():
            say(out, f"the page, to open in a browser: {page.resolve().as_uri()}")
        failed = [outcome for outcome in outcomes if outcome.status == TrainingStatus.FAILED]
        if failed:
            raise SweepFailedError(f"{len(failed)} of {len(outcomes)} jobs failed; re-run the same command "
                                   f"with hydra.sweep.dir={sweep_dir} to retry only those")

    # --- searching inside a category -----------------------------------------------------------------

    def find_searches(self, trainings: list[Training], tasks: list[DictConfig]) -> dict[tuple[str, str], list]:
        """The searched options ((category, option) -> their spaces), checked (``hpsweep.sweep.search``)."""
        return find_searches(trainings, tasks, self.config_loader, lambda overrides: self.composer.compose(
            overrides).task, self.hpsweep_app)

    # --- checking and placing -------------------------------------------------------------------------

    def preflight(self, trainings: list[Training]) -> list[Composed]:
        """Compose and check every job before the first starts, each distinct choice of config files once
        (``hpsweep.sweep.composer``); report all problems together."""
        composed, problems = [], []
        for number, training in enumerate(trainings):
            try:
                composed.append(self.composer.compose(list(training.overrides)))
            except HydraException as error:  # an unknown option: named with the closest ones
                message = missing_option(str(error), self.config_loader.get_group_options) or \
                    composition_error(error)
                problems.append(f"training {number} ({training.label}): {message}")
                composed.append(None)
        if self.hpsweep_app:
            problems += job_problems(trainings, [job.task if job is not None else None for job in composed])
        if problems:
            raise ConfigError(problems, summary=f"{len(problems)} problem(s) in {len(trainings)} trainings; "
                                                "nothing was started")
        return composed

    def prepare(self, trainings: list[Training], composed: list[Composed] | None, sweep_dir: Path) -> list[Outcome]:
        """Check (unless ``composed`` were checked already), merge trainings of the same config, give each its
        directory; skip what is done."""
        trainings = list(trainings)
        composed = list(composed) if composed else self.preflight(trainings)
        fps = []
        for job in composed:
            data = self.digests.digest_of(job.task)  # each data set digested once
            alone, with_data = fingerprints(job.task, data)
            fps.append(with_data)
            self.made_of[with_data] = (alone, data)
        composed_of = dict(zip(fps, composed, strict=True))
        subdirs: dict[str, str] = {}  # merged trainings go where the first of them would
        for number, (training, job, fp) in enumerate(zip(trainings, composed, fps, strict=True)):
            if fp not in subdirs:
                subdirs[fp] = training.subdir or job.subdir(number)
        trainings, fps = merge_identical(trainings, fps)
        sweep_dir.mkdir(parents=True, exist_ok=True)  # only once every job passed the pre-flight
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        manifest = read_manifest(sweep_dir)
        directories = assign_directories(sweep_dir, [(fp, subdirs[fp]) for fp in fps], recorded_fingerprints(manifest))
        outcomes = [Outcome.of(training, directory, fp)
                    for training, directory, fp in zip(trainings, directories, fps, strict=True)]
        for outcome in outcomes:
            outcome.provenance = None if self.hpsweep_app else self.provenance  # hpsweep's jobs record their own
            outcome.fresh = not self.settings.resume
            if self.settings.resume and outcome.done_before(pruning=self.settings.pruning_on):
                outcome.status = RowStatus.SKIPPED
        stale_code(outcomes, self.provenance, self.settings.rerun)
        say_new_data(outcomes, manifest, self.made_of)
        if self.settings.share_trajectories and self.hpsweep_app:
            trajectories.share(outcomes, composed_of)
        check_fit(outcomes, {fp: job.task for fp, job in composed_of.items()}, self.settings.jobs_per_gpu,
                  self.gpu_memory_gb, self.pinned)
        pending = sum(outcome.status in (RowStatus.PENDING, RowStatus.ANSWERED) for outcome in outcomes)
        rows = len(compared_rows(trainings))
        log.info("%d rows, %d trainings: %d to run, %d already done in %s", rows, len(outcomes), pending,
                 len(outcomes) - pending, sweep_dir)
        return outcomes

    def refresh_report(self, sweep_dir: Path, live: bool) -> Path | None:
        """Rewrite the sweep's page (``hpsweep.report.page``); live, keep it current while the sweep runs. Returns
        the page written at the sweep's end."""
        if not self.settings.report:
            return None
        if not live:
            return refresh(sweep_dir, live)
        if self.page is None:
            self.page = Keeper(sweep_dir)
        return None

    def entry(self, outcome: Outcome, sweep_dir: Path) -> dict:
        entry = training_entry(outcome.training, outcome.directory, sweep_dir, outcome.fingerprint)
        entry["config_fingerprint"], entry["data_digest"] = self.made_of[outcome.fingerprint]
        if outcome.answers:  # the carrier of a shared trajectory, and what it answers
            entry["answers"] = [str(member.directory.relative_to(sweep_dir)) for member in outcome.answers]
        if outcome.answered_by is not None:
            entry["answered_by"] = str(outcome.answered_by.directory.relative_to(sweep_dir))
            entry["shared"] = outcome.shared
        return entry

    # --- launching ------------------------------------------------------------------------------------

    def launching(self) -> Launching:
        """The launch loop of this driver's trainings (``hpsweep.sweep.launching``)."""
        metric, direction = self.decision_metric()
        return Launching(self.launcher, self.launcher_kind, self.settings, self.claims, metric, direction,
                         watch=self.watch)

    def launch(self, outcomes: list[Outcome], sweep_dir: Path) -> list[list[JobReturn]]:
        """Launch the pending trainings, showing the sweep's progress while they run; on Ray, once connected and
        every node is seen to read the sweep dir, with the cluster watched."""
        if self.launcher_kind == LauncherKind.RAY and self.watch is None:
            from hpsweep.sweep.on_ray import start, watched  # Ray: only where a sweep runs on it

            start(self.launcher, self.settings.jobs_per_gpu)  # done already, unless a re-run found all but this done
            self.watch = watched(self.launcher, sweep_dir)
        launching = self.launching()
        metric, _ = self.decision_metric()
        with Progress(outcomes, metric, self.settings.progress_every, self.settings.verbose) as progress:
            launching.progress = progress
            return launching.launch(outcomes, sweep_dir)
