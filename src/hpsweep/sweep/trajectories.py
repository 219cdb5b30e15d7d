"""Shared trajectories: trainings that differ only in when they stop (``early_stopping.patience``,
``early_stopping.min_delta``) follow the same weights epoch by epoch, so one training answers them all.

Early stopping reads the trajectory and never changes it: with the same seed, a patience-5 run is a prefix of the
patience-10 run, and a patience-20 run is that run continued past its stop. Of such a group, one training, the
*carrier* (the base where it is one, else the longest patience), trains until every member's rule has stopped;
each other member is *answered* from it: its stop epoch, its best epoch's metrics, its best weights and its
probability files, written into its own directory with its own ``result.json`` (``answered_by``) and W&B run
(``hpsweep.sweep.answered``). The carrier's extra epochs are the only cost of the longer patience.

Only trainings still to run are grouped: a member whose carrier is already done trains on its own.
"""

import copy
from datetime import datetime

from omegaconf import DictConfig, open_dict

from hpsweep.core import naming
from hpsweep.core.fingerprints import fingerprint
from hpsweep.core.statuses import RowStatus
from hpsweep.core.trainings import DEFAULT_REPLICATES, replicate_dict
from hpsweep.sweep.composer import Composed
from hpsweep.sweep.outcomes import Outcome

STOP_KEYS = ("patience", "min_delta")


def trajectory_key(task_cfg: DictConfig, option_only: bool = False, stops: bool = False) -> str | None:
    """A digest of everything but when the training stops (Hydra's node is left out as ``fingerprint`` leaves it):
    equal keys, equal trajectories; with ``stops``, of when it stops too (equal keys, the same training).
    ``option_only`` also leaves out the model and the replicate (what ``hpsweep matrix`` compares across them).
    None where the config has no early stopping of hpsweep's trainer (another app, ``trainer=external``)."""
    if not _stops_early(task_cfg):
        return None
    free = copy.deepcopy(task_cfg)
    with open_dict(free):
        for key in STOP_KEYS if not stops else ():
            free.early_stopping[key] = None
        if option_only:
            _leave_out_model_and_replicate(free)
    return fingerprint(free)


def option_keys(task_cfg: DictConfig) -> tuple[str | None, str | None]:
    """``trajectory_key(task_cfg, option_only=True)`` and the same with ``stops=True``, from one copy of the config:
    what ``hpsweep matrix`` compares with the base's, for each option."""
    if not _stops_early(task_cfg):
        return None, None
    free = copy.deepcopy(task_cfg)
    with open_dict(free):
        _leave_out_model_and_replicate(free)
        config = fingerprint(free)
        for key in STOP_KEYS:
            free.early_stopping[key] = None
    return fingerprint(free), config


def _stops_early(task_cfg: DictConfig) -> bool:
    return "early_stopping" in task_cfg and not (task_cfg.get("trainer") or {}).get("command")


def _leave_out_model_and_replicate(free: DictConfig) -> None:
    for key in ("model", *DEFAULT_REPLICATES):
        if "." not in key and key in free:
            free[key] = None
    if "data" in free and "fold" in free.data:
        free.data.fold = None


def share(outcomes: list[Outcome], composed: dict[str, Composed]) -> None:
    """Group the pending outcomes whose configs (``composed``: by fingerprint) differ only in when they stop; in
    each group, mark every member but the carrier ``answered`` by it."""
    configs = {fp: job.task for fp, job in composed.items()}
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.status != RowStatus.PENDING or outcome.training.trial is not None:
            continue
        key = trajectory_key(configs[outcome.fingerprint])
        if key is not None:
            groups.setdefault(key, []).append(outcome)
    for members in (members for members in groups.values() if len(members) > 1):
        def reach(outcome: Outcome) -> tuple:
            stopping = configs[outcome.fingerprint].early_stopping
            return outcome.training.is_base, stopping.patience, -stopping.min_delta

        carrier = max(members, key=reach)
        for member in members:
            if member is carrier:
                continue
            cfg, choices = configs[member.fingerprint], composed[member.fingerprint].choices
            member.status = RowStatus.ANSWERED
            member.answered_by = carrier
            member.shared = {
                "early_stopping": {key: cfg.early_stopping[key] for key in STOP_KEYS},
                "run_name": naming.run_name(cfg, choices,
                                            naming.overridden_groups(list(member.training.overrides)), datetime.now(),
                                            replicate_dict(member.training.replicate)),
                "choices": {group: option for group, option in choices.items()
                            if not group.startswith("hydra")},
            }
            carrier.answers.append(member)
