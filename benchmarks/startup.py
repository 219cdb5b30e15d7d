"""Start-up cost of the commands a user runs before any training, measured side by side in one run.

    python benchmarks/startup.py

Prints the wall time of each command (median of 3) and its ratio to a bare ``python -c pass``.
"""

import json
import statistics
import subprocess
import sys
import tempfile
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


def write_results(root: Path, count: int = 1000) -> None:
    """``count`` result files as sweeps leave them: 10 models x 6 categories x their options."""
    for number in range(count):
        model, category, option = f"model{number % 10}", f"category{number // 10 % 6}", f"option{number // 60}"
        directory = root / model / category / option
        directory.mkdir(parents=True)
        (directory / "result.json").write_text(json.dumps({
            "status": "completed" if number % 7 else "failed", "model": model, "category": category,
            "option": option, "duration_s": 60.0 + number, "epochs_run": 10,
            "metrics": {"val_f1": (number % 97) / 100, "val_acc": 0.5, "val_loss": 1.0, "best_epoch": 7}}))


def main() -> None:
    with tempfile.TemporaryDirectory() as results:
        write_results(Path(results))
        COMMANDS["hpsweep summary (1,000 results)"] = [
            sys.executable, "-m", "hpsweep.cli", "summary", results, "--no-plots"]
        timings = {name: median_seconds(command) for name, command in COMMANDS.items()}
    bare = timings["python -c pass"]
    print(f"{'command':34} {'seconds':>8} {'x bare python':>14}")
    for name, seconds in timings.items():
        print(f"{name:34} {seconds:8.2f} {seconds / bare:14.1f}")
    print()
    for name in ("hpsweep matrix (seed: 68 jobs)", "hpsweep summary (1,000 results)"):
        print(f"{name}: {timings[name]:.2f} s of its 2.00 s budget ({timings[name] / 2.0:.0%})")


if __name__ == "__main__":
    main()
