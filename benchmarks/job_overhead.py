"""Per-job fixed cost of a sweep: everything a job spends besides training and validation.

    python benchmarks/job_overhead.py

Runs a small and a large category sweep of 1-epoch jobs (W&B offline, as by default without a key) and
takes the difference, so the sweep's one-time start-up cancels out: what remains per job is composing,
validating, W&B init and finish, building the model and data, and writing the records. The same
difference over a no-op Hydra app swept by the BasicSweeper is the floor Hydra itself sets.
"""

import argparse
import csv
import statistics
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    per_job, noop_per_job, start_up = [], [], []
    for _ in range(args.repeats):  # this shared machine's speed drifts: medians of a few rounds
        small_jobs, small_wall, small_train = hpsweep_sweep(SMALL)
        large_jobs, large_wall, large_train = hpsweep_sweep(LARGE)
        per_job.append(((large_wall - large_train) - (small_wall - small_train)) / (large_jobs - small_jobs))
        start_up.append(small_wall - small_train - small_jobs * per_job[-1])
        noop_per_job.append((noop_sweep(large_jobs) - noop_sweep(small_jobs)) / (large_jobs - small_jobs))
        print(f"round: {small_jobs} jobs {small_wall:.1f} s ({small_train:.1f} s training), {large_jobs} jobs "
              f"{large_wall:.1f} s ({large_train:.1f} s training); no-op Hydra {noop_per_job[-1]:.3f} s per job")
    ours, floor = statistics.median(per_job), statistics.median(noop_per_job)
    print(f"\nstart-up of a sweep (imports, pre-flight, W&B service): {statistics.median(start_up):.2f} s")
    print(f"fixed cost per job:  hpsweep {ours:.3f} s   no-op Hydra app {floor:.3f} s   ratio {ours / floor:.1f}"
          f"   (rounds: {', '.join(f'{value:.2f}' for value in per_job)} s)")


if __name__ == "__main__":
    main()
