"""Every use of Optuna's private API, in one place (``hpsweep.sweep.studies`` is its only user): what Optuna's own
code does where it offers no public call. ``tests/test_private_api.py`` fails loudly, naming the call, when a new
Optuna moves or changes one of these (pinned: optuna 5.0.0)."""

import optuna
from optuna.trial import FrozenTrial


def running_trial(study: optuna.Study, frozen: FrozenTrial) -> optuna.Trial:
    """The live trial of a running ``frozen`` one, to go on reporting to it (a resumed job)."""
    return optuna.Trial(study, frozen._trial_id)


def frozen(study: optuna.Study, trial: optuna.Trial) -> FrozenTrial:
    """A live trial as its storage holds it now (its reports so far), without copying the study's other trials."""
    return study._storage.get_trial(trial._trial_id)


def storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study was loaded from, to load it again with another sampler."""
    return study._storage
