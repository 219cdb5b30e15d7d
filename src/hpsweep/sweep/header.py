"""The header of a sweep's manifest (``sweep.json``): what the sweep is, as a re-run compares it."""

import sys
from pathlib import Path

from hydra.core.override_parser.types import Override
from omegaconf import DictConfig

from hpsweep.core.manifest import plan_key
from hpsweep.core.trainings import bare_key
from hpsweep.sweep import stages
from hpsweep.sweep.plan import PlanRequest
from hpsweep.sweep.settings import SweepSettings


def sweep_header(chosen: SweepSettings, config: DictConfig, arguments: list[str], overrides: list[Override],
                 request: PlanRequest, decided_by: tuple[str, str, str], provenance: dict | None) -> dict:
    """``sweep.json``'s header: the app, the command line, the settings that decide, the plan's key."""
    metric, direction, why = decided_by
    sources = [source for source in config.hydra.runtime.config_sources if source.provider == "main"]
    settings = {"strategy": chosen.strategy, "replicates": chosen.replicates, "categories": chosen.categories,
                "metric": metric, "direction": direction, "alpha": chosen.alpha, "pruning": chosen.pruning,
                "n_trials": chosen.n_trials, "sampler": chosen.sampler, "racing": chosen.race,
                "share_trajectories": chosen.share_trajectories, "control_seeds": chosen.control_seeds}
    # Hydra gives a source's path without its scheme (``schema`` says "file", "pkg" or "structured")
    config_dirs = [source.path for source in config.hydra.runtime.config_sources if source.schema == "file"]
    return {
        "app": {"script": str(Path(sys.argv[0]).resolve()), "config_name": config.hydra.job.config_name,
                "config_dir": sources[0].path if sources and sources[0].schema == "file" else None},
        "arguments": list(arguments),
        "fixed": [override.input_line for override in overrides if not override.is_sweep_override()
                  and bare_key(override) not in ("category", "model")
                  and not bare_key(override).startswith("hydra")],
        "strategy": chosen.strategy,
        "replicates": chosen.replicates,
        "metric": metric,
        "direction": direction,
        "decided_by": why,
        "alpha": chosen.alpha,
        "multiplicity": chosen.multiplicity,
        "fdr": chosen.rate,
        "control_seeds": chosen.control_seeds,
        "pruning": chosen.pruning,
        "racing": chosen.race,
        "share_trajectories": chosen.share_trajectories,
        "report": chosen.report,
        "default_choices": dict(request.default_choices),
        "stages": stages.stage_categories(overrides, request) if chosen.strategy == "greedy" else [],
        "n_trials": chosen.n_trials,
        "search_trials": 0,  # how many trial trainings the sweep's searched options make in all
        "plan_key": plan_key(arguments, settings, config_dirs),
        "rerun": chosen.rerun,
        "provenance": provenance,  # the driver's: what another app's jobs record
        "data_sources": [],  # each data set the trainings read, digested (filled in by prepare)
    }
