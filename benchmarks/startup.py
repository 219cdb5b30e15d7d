"""Start-up cost of the commands a user runs before any training, measured side by side in one run.

    python benchmarks/startup.py

Prints the wall time of each command (median of 3) and its ratio to a bare ``python -c pass``.
"""

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_MODELS = ("model=efficientnet_b4.ra2_in1k,efficientnet_b3.ra2_in1k,resnet50.tv2_in1k,"
               "swin_base_patch4_window12_384.ms_in1k")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "run_experiments.py --help": [sys.executable, "run_experiments.py", "--help"],
    "hpsweep matrix (seed: 68 jobs)": [sys.executable, "-m", "hpsweep.cli", "matrix", SEED_MODELS, "category=all"],
    "hpsweep check (imports timm)": [sys.executable, "-m", "hpsweep.cli", "check", "model=test_resnet"],
}


def median_seconds(command: list[str], repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    timings = {name: median_seconds(command) for name, command in COMMANDS.items()}
    bare = timings["python -c pass"]
    print(f"{'command':34} {'seconds':>8} {'x bare python':>14}")
    for name, seconds in timings.items():
        print(f"{name:34} {seconds:8.2f} {seconds / bare:14.1f}")
    matrix = timings["hpsweep matrix (seed: 68 jobs)"]
    print(f"\nmatrix budget: {matrix:.2f} s of 2.00 s ({matrix / 2.0:.0%})")


if __name__ == "__main__":
    main()
