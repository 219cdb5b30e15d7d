"""Weights & Biases tracking: one project per model, one run per category option."""

import logging
import netrc
import os
import re
import secrets
import string
import threading
from pathlib import Path
from urllib.parse import urlparse

log = logging.getLogger(__name__)

TRANSACTION_LOG_FLUSH_S = 1.0
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


def new_run_id() -> str:
    """A W&B run id as W&B draws them (8 base-36 digits), drawn here so the job records it before the run starts."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


class Tracker:
    """One W&B run, resumed when ``run_id`` names an earlier one.

    ``wandb.init`` (about 1.5 s: it starts W&B's service process) runs on a thread of its own while the job builds
    its data and model; the run is waited for where it is first used, and its id is chosen here so that the job
    records it at once. ``finish`` must run whatever happens: a second ``wandb.init`` without it silently logs
    into the first run.
    """

    def __init__(self, *, project: str, entity: str | None, name: str, group: str | None, tags: list[str],
                 config: dict, mode: str, run_dir: Path, run_id: str | None = None, verbose: bool = False,
                 sweep_dir: Path | None = None):
        import wandb

        self.mode = resolve_mode(mode)
        self.run_id = run_id or new_run_id()
        arguments = dict(
            project=project,
            entity=entity,
            name=name,
            group=group,
            tags=tags,
            config=redact_secrets(config),
            mode=self.mode,
            dir=str(run_dir),
            reinit="finish_previous",
            id=self.run_id,
            resume="allow",  # an interrupted job resumes its own W&B run; a new id starts a new one
            # SIGTERM (preemption, requeue) stops W&B's service at once, losing what it has not flushed to
            # the run's file: flush every second, not every 15
            settings=wandb.Settings(x_transaction_log_flush_interval=TRANSACTION_LOG_FLUSH_S, silent=not verbose),
        )
        self._run, self._failed = None, None
        self._started = threading.Thread(target=self._init, args=(arguments, name, sweep_dir), daemon=True)
        self._started.start()

    def _init(self, arguments: dict, name: str, sweep_dir: Path | None) -> None:
        import wandb

        try:
            self._run = wandb.init(**arguments)
        except BaseException as error:  # raised where the run is first used, in the job's own thread
            self._failed = error
            return
        log.info("W&B run %s %s", name, self.where(sweep_dir))

    def wait(self) -> None:
        """Wait for ``wandb.init`` (raising what it raised). Before any process forks: a fork while it runs may copy
        a lock it holds (an import's, logging's) into the child, which then waits for it forever."""
        self._started.join()
        if self._failed is not None:
            raise self._failed

    @property
    def run(self):
        self.wait()
        return self._run

    def where(self, sweep_dir: Path | None) -> str:
        """One line in place of W&B's own banner: where the run goes, and how to upload it if offline (a sweep's
        runs all at once; a run of its own by itself)."""
        if self.mode == "online":
            return f"logs to {self._run.url}"
        if self.mode == "offline":
            offline = Path(self._run.dir).parent
            upload = f"hpsweep sync {sweep_dir}" if sweep_dir else f"wandb sync {offline}"
            return f"is offline in {offline}; upload with {upload}"
        return "is disabled (logger.mode=disabled)"

    def log_epoch(self, row: dict, epoch: int) -> None:
        self.run.log(row, step=epoch, commit=True)  # written now, not when the next epoch is logged

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
        self._started.join()
        if self._run is not None:  # a run W&B could not start has nothing to finish
            self._run.finish(exit_code=1 if failed else 0)

    def finish_interrupted(self) -> None:
        """Mark the run preempting and finish it; the requeued job resumes it under the same id.

        SLURM's SIGTERM reaches every process of the job, W&B's service too, which then drops its
        connection: what was logged before is kept, and the requeued job logs on from its checkpoint.
        """
        import wandb

        try:
            self.run.mark_preempting()
            self.run.finish(exit_code=1)
        except ConnectionError:
            log.warning("W&B's service process had already stopped; run %s resumes when the job does", self.run_id)
            try:
                wandb.teardown()  # else W&B's exit hook reports the lost connection once more
            except ConnectionError:
                pass
