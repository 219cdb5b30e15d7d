"""A training's fingerprint: a digest of everything that decides what it computes (its resolved config and its
data's digest), so that rows sharing a config share a training and a changed file makes a new one."""

import functools
import hashlib
import json
from contextlib import contextmanager

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from hpsweep.core import hydra_private, naming

# Config keys that do not change what a job computes: the W&B mode, the varied category's name, run names (and in
# each group, its option's run name: naming.RUN_NAME)
NOT_FINGERPRINTED = ("hydra", "logger", "category", "run_name_parts")
RUNTIME_RESOLVERS = ("hydra", "now")  # a job's place and time: left as written in a fingerprint


def task_config(cfg: DictConfig) -> DictConfig:
    """A job's task config: its composed config without Hydra's node."""
    return OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])


def fingerprint(task_cfg: DictConfig, data: str | None = None) -> str:
    """A digest of everything that decides what a job computes: its fully resolved config, without the keys
    that only name or log it (``NOT_FINGERPRINTED``), so rows that share a config share its training; and the
    digest of the files it reads (``data``: ``hpsweep.data.digests.data_digest``), so new labels or images make a
    new training.

    Where and when a job runs is not what it computes: ``${hydra:...}`` and ``${now:...}`` stay as written
    (the driver knows neither a job's output dir nor its start), and so does any value whose resolver fails
    outside a job; the driver and the job then compute the same digest."""
    return _digest(_fingerprinted(task_cfg), data)


def fingerprints(task_cfg: DictConfig, data: str | None) -> tuple[str, str]:
    """``fingerprint(task_cfg)`` and ``fingerprint(task_cfg, data)``, the config resolved once."""
    container = _fingerprinted(task_cfg)
    return _digest(container, None), _digest(container, data)


def _fingerprinted(task_cfg: DictConfig) -> dict:
    kept = OmegaConf.masked_copy(task_cfg, [key for key in task_cfg if key not in NOT_FINGERPRINTED])
    with runtime_values_as_written():
        container = resolved_container(kept)
    for node in container.values():
        if isinstance(node, dict):
            node.pop(naming.RUN_NAME, None)
    if isinstance(container.get("trainer"), dict):
        container["trainer"].pop("progress_bar", None)
    if isinstance(container.get("data"), dict):
        container["data"].pop("fingerprint", None)  # how the files are digested, not what they hold
    return container


def _digest(container: dict, data: str | None) -> str:
    if data is not None:
        container = {"config": container, "data": data}
    return hashlib.sha256(json.dumps(container, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def runtime_values_as_written():
    """While it is entered, ``${hydra:path}`` and ``${now:pattern}`` resolve to their own text. Hydra registers both
    resolvers globally (``hydra.core.utils.setup_globals``); they are put back as they were on exit."""
    resolvers = hydra_private.resolvers()
    saved = {name: resolvers.get(name) for name in RUNTIME_RESOLVERS}
    for name in RUNTIME_RESOLVERS:
        OmegaConf.register_new_resolver(name, functools.partial(_as_written, name), replace=True)
    try:
        yield
    finally:
        for name, resolver in saved.items():
            if resolver is None:
                resolvers.pop(name, None)
            else:
                resolvers[name] = resolver


def _as_written(name: str, *arguments) -> str:
    return f"${{{name}:{','.join(map(str, arguments))}}}"


def resolved_container(node: DictConfig | ListConfig) -> dict | list:
    """``node`` as plain data, resolved; a value that does not resolve here (an environment variable or a resolver
    only a job has) is kept as written instead of failing the whole."""
    try:
        return OmegaConf.to_container(node, resolve=True)
    except OmegaConfBaseException:
        pass
    raw = OmegaConf.to_container(node, resolve=False)
    resolved = {} if isinstance(raw, dict) else [None] * len(raw)
    for key in (raw if isinstance(raw, dict) else range(len(raw))):
        try:
            value = node[key]
        except OmegaConfBaseException:
            resolved[key] = raw[key]
            continue
        resolved[key] = resolved_container(value) if OmegaConf.is_config(value) else value
    return resolved
