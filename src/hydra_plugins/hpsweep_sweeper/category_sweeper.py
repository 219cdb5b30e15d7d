"""A Hydra Sweeper for category sweeps: validates every job first, isolates failures, resumes.

Selected in ``conf/config.yaml`` (``override hydra/sweeper: category``); jobs go to whatever Hydra
launcher is configured (basic, submitit_local, submitit_slurm).
"""

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

from hpsweep.errors import ConfigError, SweepFailedError
from hpsweep.sweep.outcomes import Outcome, collect_outcomes, print_outcomes, write_manifest
from hpsweep.sweep.plan import Job, assign_directories, fingerprint, job_subdir, plan_jobs
from hpsweep.sweep.status import wait_for_slurm_jobs

log = logging.getLogger(__name__)

SEED_CATEGORIES = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]


@dataclass
class CategorySweeperConf:
    _target_: str = "hydra_plugins.hpsweep_sweeper.category_sweeper.CategorySweeper"
    categories: list[str] = field(default_factory=lambda: list(SEED_CATEGORIES))  # what category=all sweeps
    max_batch_size: int | None = None  # jobs handed to the launcher at once; null: all
    resume: bool = True  # skip jobs whose result.json in the sweep dir says completed


ConfigStore.instance().store(group="hydra/sweeper", name="category", node=CategorySweeperConf, provider="hpsweep")


class CategorySweeper(Sweeper):
    def __init__(self, categories: list[str], max_batch_size: int | None, resume: bool):
        self.categories = list(categories)
        self.max_batch_size = max_batch_size
        self.resume = resume
        self.hydra_context: HydraContext | None = None
        self.config: DictConfig | None = None
        self.launcher = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> list[JobReturn]:
        """Plan, check, launch and report; exits non-zero when input is bad or any job failed."""
        try:
            return self.run_sweep(arguments)
        except (ConfigError, SweepFailedError) as error:  # said plainly, without a stack trace
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    def run_sweep(self, arguments: list[str]) -> list[JobReturn]:
        config_loader = self.hydra_context.config_loader
        overrides = OverridesParser.create(config_loader=config_loader).parse_overrides(arguments)
        jobs = plan_jobs(overrides, config_loader.get_group_options, self.categories,
                         default_groups=set(self.config.hydra.runtime.choices))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        configs = self.preflight(jobs)
        directories = assign_directories(sweep_dir, [
            (fingerprint(cfg), job_subdir(job, cfg.model.name)) for job, cfg in zip(jobs, configs, strict=True)])
        outcomes = [Outcome.of(job, directory) for job, directory in zip(jobs, directories, strict=True)]
        pending = []
        for outcome in outcomes:
            if self.resume and outcome.previously_completed:
                outcome.status = "skipped"
            else:
                outcome.prepare_to_run()
                pending.append(outcome)
        write_manifest(sweep_dir, outcomes)
        log.info("%d jobs: %d to run, %d already completed in %s", len(jobs), len(pending),
                 len(jobs) - len(pending), sweep_dir)

        returns: list[JobReturn] = []
        batch_size = self.max_batch_size or max(len(pending), 1)
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]
            job_overrides = [
                [*outcome.job.overrides, f"hydra.sweep.subdir='{outcome.directory.relative_to(sweep_dir)}'"]
                for outcome in batch]
            try:
                returns.extend(self.launcher.launch(job_overrides, initial_job_idx=start))
            except Exception as error:  # a launcher losing jobs (a killed process) must not end the sweep
                log.error("the launcher lost jobs %d-%d: %s: %s", start, start + len(batch) - 1,
                          type(error).__name__, error)
                for outcome in batch:
                    outcome.launch_error = f"{type(error).__name__}: {error}"
                wait_for_slurm_jobs(sweep_dir)  # the launcher stopped waiting at the lost job: the others run on
        collect_outcomes(outcomes)
        print_outcomes(outcomes, sweep_dir)
        failed = [outcome for outcome in outcomes if outcome.status == "failed"]
        if failed:
            raise SweepFailedError(f"{len(failed)} of {len(outcomes)} jobs failed; re-run the same command "
                                   f"with hydra.sweep.dir={sweep_dir} to retry only those")
        return returns

    def preflight(self, jobs: list[Job]) -> list[DictConfig]:
        """Compose and check every job before the first starts; report all problems together."""
        from hpsweep.sweep.preflight import job_problems

        configs, problems = [], []
        for number, job in enumerate(jobs):
            try:
                cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job.overrides))
            except HydraException as error:  # an unknown option: Hydra's message lists the valid ones
                message = str(error).split("\nConfig search path")[0]
                problems.append(f"job {number} ({job.label}): " + " ".join(message.split()))
                configs.append(None)
                continue
            with open_dict(cfg):
                del cfg["hydra"]
            configs.append(cfg)
        problems += job_problems(jobs, configs)
        if problems:
            raise ConfigError(problems, summary=f"{len(problems)} problem(s) in {len(jobs)} jobs; nothing was started")
        return configs
