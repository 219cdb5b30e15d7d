"""Train one composed experiment, or a sweep of them with ``-m``.

    python run_experiments.py model=test_resnet data.image_size=32 trainer.max_epochs=2
"""

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from hpsweep.core.errors import UserError
    from hpsweep.core.metrics import stopping_rule
    from hpsweep.sweep.job import run  # torch and timm load here, after Hydra has parsed the command line

    try:
        monitored = stopping_rule(cfg.early_stopping, cfg.data)["monitor"]
        return run(cfg)[monitored]  # the value any Hydra sweeper can optimise
    except UserError:
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(1)  # the job's log said why, once; a sweep records it as the job's failure instead
        raise


def exit_without_finalizing() -> None:
    """End the process once everything is written, without the interpreter tearing down torch's and timm's
    modules object by object (about 1.1 s on this CPU after every job, longer than W&B's start; BENCHMARKS.md).
    What an exit must still do runs first: other threads are joined, the exit handlers run (logging's flush,
    W&B's teardown, multiprocessing's data-loader workers), and the output is flushed."""
    import atexit
    import os
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()  # CPython's own exit sequence, which os._exit skips
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    from pathlib import Path

    from hpsweep.core.compose import unknown_choices
    from hpsweep.core.display import say_error

    # Hydra would print its search path, not the closest names; a sweep's pre-flight names those of swept
    # values beside every other problem of its jobs, but a fixed one fails Hydra's first composition, before it
    multirun = bool({"-m", "--multirun"} & set(sys.argv[1:]))
    if problems := unknown_choices(Path(__file__).with_name("conf"), sys.argv[1:], sweeps=not multirun):
        say_error("\n".join(problems))
        sys.exit(1)
    main()
    exit_without_finalizing()  # reached on success only: a failure leaves through SystemExit as usual
