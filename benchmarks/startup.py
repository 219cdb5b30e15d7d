"""Start-up cost of the commands a user runs before any training, measured side by side in one run.

    python benchmarks/startup.py               # every command, 3 rounds
    python benchmarks/startup.py --matrix 15   # only the matrix against one compose, 15 rounds
    git worktree add /tmp/old <commit>; python benchmarks/startup.py --matrix 15 --against /tmp/old

Each round runs every command once, in turn, so that a neighbour loading this machine slows them all alike; prints
each command's best and median wall time and its ratio to a bare ``python -c pass``. The matrix's own figure is its
median over the median of *one compose*: a fresh process that imports ``hpsweep.core.compose`` and composes
``run_experiments.py``'s config once (``compose_config(conf, [])``), timed inside it (issue 47: at most 3x).
``--against DIR`` also times the matrix of another checkout (its ``src`` first on the path, run from it), in the
same rounds: a change's before and after under the same load.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEED_MODELS = ("model=efficientnet_b4.ra2_in1k,efficientnet_b3.ra2_in1k,resnet50.tv2_in1k,"
               "swin_base_patch4_window12_384.ms_in1k")
SEED_CATEGORIES = "category=optimizer,scheduler,loss_function,image_size,batch_size,early_stopping"
MATRIX = "hpsweep matrix (seed: 4 models x 6 categories)"
ONE_COMPOSE = "one compose (import + compose_config)"
COMPOSE_CODE = ("import time; started = time.perf_counter()\n"
                "from pathlib import Path\n"
                "from hpsweep.core.compose import compose_config\n"
                "compose_config(Path('conf'), [])\n"
                "print(time.perf_counter() - started)")


def commands(empty: Path, results: Path, matrix_only: bool, against: Path | None) -> dict[str, list[str]]:
    """Each command by name; ONE_COMPOSE prints its own time."""
    cli = [sys.executable, "-m", "hpsweep.cli"]
    matrix = [*cli, "matrix", SEED_MODELS, SEED_CATEGORIES, "--results", str(empty)]
    measured = {MATRIX: matrix, ONE_COMPOSE: [sys.executable, "-c", COMPOSE_CODE],
                **({theirs(against): matrix} if against else {})}
    if matrix_only:
        return measured
    return {"python -c pass": [sys.executable, "-c", "pass"],
            "run_experiments.py --help": [sys.executable, "run_experiments.py", "--help"], **measured,
            "hpsweep check (imports timm)": [*cli, "check", "model=test_resnet"],
            "hpsweep summary (1,000 results)": [*cli, "summary", str(results), "--no-plots"]}


def theirs(against: Path) -> str:
    return f"hpsweep matrix of {against}"


def seconds(name: str, command: list[str], against: Path | None = None) -> float:
    """The wall time of ``command`` (ONE_COMPOSE: the time it prints); ``theirs(against)`` in that checkout."""
    mine = against is None or name != theirs(against)
    path = {} if mine else {"PYTHONPATH": os.pathsep.join([str(against / "src"), os.environ.get("PYTHONPATH", "")])}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT if mine else against, check=True, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "100", **path})
    elapsed = time.perf_counter() - started
    return float(done.stdout.split()[-1]) if name == ONE_COMPOSE else elapsed


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


def measure(rounds: int, matrix_only: bool, against: Path | None) -> dict[str, list[float]]:
    """Every command's times, the commands taking turns round after round (a first round warms the file cache)."""
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as results:
        write_results(Path(results))
        named = commands(Path(empty), Path(results), matrix_only, against)
        for name, command in named.items():
            seconds(name, command, against)
        times: dict[str, list[float]] = {name: [] for name in named}
        for _ in range(rounds):
            for name, command in named.items():
                times[name].append(seconds(name, command, against))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--matrix", type=int, metavar="ROUNDS",
                        help="only the matrix and one compose, taking turns this many rounds")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every command (default 3)")
    parser.add_argument("--against", type=Path, metavar="DIR", help="also the matrix of this checkout")
    args = parser.parse_args()
    load = os.getloadavg()
    against = args.against.resolve() if args.against else None
    times = measure(args.matrix or args.rounds, matrix_only=bool(args.matrix), against=against)
    after = os.getloadavg()
    bare = statistics.median(times["python -c pass"]) if "python -c pass" in times else None
    print(f"{'command':48} {'best':>6} {'median':>7}" + (f" {'x bare python':>14}" if bare else ""))
    for name, measured in times.items():
        median = statistics.median(measured)
        print(f"{name:48} {min(measured):6.2f} {median:7.2f}" + (f" {median / bare:14.1f}" if bare else ""))
    print()
    for name in (MATRIX, *([theirs(against)] if against else [])):
        matrix, compose = times[name], times[ONE_COMPOSE]
        paired = [one / other for one, other in zip(matrix, compose, strict=True)]
        print(f"{name} / one compose: {statistics.median(matrix) / statistics.median(compose):.2f}x (medians; goal: "
              f"at most 3x), {min(matrix) / min(compose):.2f}x (best), {statistics.median(paired):.2f}x (median of "
              f"{len(paired)} rounds, each against its own compose)")
    print(f"load average (1 min) on {os.cpu_count()} cores: {load[0]:.2f} before, {after[0]:.2f} after")


if __name__ == "__main__":
    main()
