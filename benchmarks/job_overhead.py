"""Per-job fixed cost of a sweep: everything a job spends besides training and validation.

    python benchmarks/job_overhead.py

Runs a small and a large category sweep of 1-epoch jobs (W&B offline, as by default without a key) and
takes the difference, so the sweep's one-time start-up cancels out: what remains per job is composing,
validating, W&B init and finish, building the model and data, and writing the records. The same
difference over a no-op Hydra app swept by the BasicSweeper is the floor Hydra itself sets.
"""

import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SMALL, LARGE = "early_stopping", "early_stopping,optimizer,loss_function,scheduler"  # 3 and 10 jobs
TINY = ["model=test_resnet", "data.image_size=16", "trainer.max_epochs=1", "trainer.progress_bar=false",
        "logger.mode=offline"]


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True,
                   env={"WANDB_SILENT": "true", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    return time.perf_counter() - started


def hpsweep_sweep(categories: str) -> tuple[int, float, float]:
    """(jobs, wall seconds, seconds spent training and validating) of one category sweep."""
    with tempfile.TemporaryDirectory() as sweep_dir:
        wall = timed([sys.executable, "run_experiments.py", "-m", *TINY, f"category={categories}",
                      f"hydra.sweep.dir={sweep_dir}"])
        epochs = []
        for history in Path(sweep_dir).glob("**/history.csv"):
            with open(history) as handle:
                epochs += [float(row["epoch_s"]) for row in csv.DictReader(handle)]
    return len(epochs), wall, sum(epochs)


def noop_sweep(jobs: int) -> float:
    with tempfile.TemporaryDirectory() as sweep_dir:
        return timed([sys.executable, "benchmarks/noop_app.py", "-m", f"+x=range(0,{jobs})",
                      f"hydra.sweep.dir={sweep_dir}"])


def main() -> None:
    small_jobs, small_wall, small_train = hpsweep_sweep(SMALL)
    large_jobs, large_wall, large_train = hpsweep_sweep(LARGE)
    per_job = ((large_wall - large_train) - (small_wall - small_train)) / (large_jobs - small_jobs)
    noop_per_job = (noop_sweep(large_jobs) - noop_sweep(small_jobs)) / (large_jobs - small_jobs)
    print(f"hpsweep: {small_jobs} jobs {small_wall:.1f} s ({small_train:.1f} s training), "
          f"{large_jobs} jobs {large_wall:.1f} s ({large_train:.1f} s training)")
    print(f"start-up of a sweep (imports, pre-flight, first job's W&B service): "
          f"{small_wall - small_train - small_jobs * per_job:.2f} s")
    print(f"fixed cost per job:  hpsweep {per_job:.3f} s   no-op Hydra app {noop_per_job:.3f} s   "
          f"ratio {per_job / noop_per_job:.1f}")


if __name__ == "__main__":
    main()
