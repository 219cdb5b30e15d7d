"""The whole check of a config before its training: the cheap checks of its values (``hpsweep.train.validation``,
which a sweep runs for every job up front), then its data set's and its model's, which need torch and timm."""

import logging

from omegaconf import DictConfig

from hpsweep.core.errors import ConfigError
from hpsweep.train.data import data_problems
from hpsweep.train.models import check_model_name, weights_problem
from hpsweep.train.validation import config_problems, config_warnings

log = logging.getLogger(__name__)


def validate(cfg: DictConfig, warn: bool = True) -> None:
    """Raise one ConfigError listing every problem of ``cfg``: values, the model name and its pretrained weights,
    the data set; where there is none (and ``warn``), log what will run but likely not as meant."""
    problems = config_problems(cfg) + data_problems(cfg.data)
    try:
        check_model_name(cfg.model.name)
    except ConfigError as error:
        problems += error.problems
    else:  # its pretrained weights found before the training needs them (no job fails for them later)
        problems += [problem for problem in [weights_problem(cfg.model)] if problem]
    if problems:
        raise ConfigError(problems)
    for warning in config_warnings(cfg) if warn else []:
        log.warning(warning)
