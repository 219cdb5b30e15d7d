"""Weights & Biases tracking: one project per model, one run per category option."""

import netrc
import os
import re
from pathlib import Path
from urllib.parse import urlparse

_SECRET_KEYS = re.compile(r"(api_?key|token|secret|password)", re.IGNORECASE)


def resolve_mode(mode: str) -> str:
    """``auto`` -> ``online`` when a W&B API key is configured, else ``offline``; other modes pass through."""
    if mode != "auto":
        return mode
    return "online" if api_key_configured() else "offline"


def api_key_configured() -> bool:
    """Whether W&B could log in without prompting: WANDB_API_KEY, or a netrc entry for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def redact_secrets(config):
    """A copy of a plain config container with every secret-looking key's value replaced."""
    if isinstance(config, dict):
        return {
            key: "<redacted>" if _SECRET_KEYS.search(str(key)) else redact_secrets(value)
            for key, value in config.items()
        }
    if isinstance(config, list):
        return [redact_secrets(value) for value in config]
    return config


class Tracker:
    """One W&B run, resumed when ``run_id`` names an earlier one.

    ``finish`` must run whatever happens: a second ``wandb.init`` without it silently logs into the first run.
    """

    def __init__(self, *, project: str, entity: str | None, name: str, group: str | None, tags: list[str],
                 config: dict, mode: str, run_dir: Path, run_id: str | None = None):
        import wandb

        self.mode = resolve_mode(mode)
        self.run = wandb.init(
            project=project,
            entity=entity,
            name=name,
            group=group,
            tags=tags,
            config=redact_secrets(config),
            mode=self.mode,
            dir=str(run_dir),
            reinit="finish_previous",
            id=run_id,  # an interrupted job resumes its own W&B run
            resume="allow" if run_id else None,
        )

    @property
    def run_id(self) -> str:
        return self.run.id

    def log_epoch(self, row: dict, epoch: int) -> None:
        self.run.log(row, step=epoch)

    def set_summary(self, values: dict) -> None:
        for key, value in values.items():
            self.run.summary[key] = value

    def log_file(self, path: Path, kind: str) -> None:
        """Keep a file with the run as a W&B artifact (``predictions.csv`` for a submission)."""
        import wandb

        artifact = wandb.Artifact(name=f"{kind}-{self.run.id}", type=kind)
        artifact.add_file(str(path))
        self.run.log_artifact(artifact)

    def finish(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)
