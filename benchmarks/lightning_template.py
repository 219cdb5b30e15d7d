"""lightning-hydra-template's own sweep tests, with Hydra's BasicSweeper and with hpsweep's sweeper as its default.

    python benchmarks/lightning_template.py /path/to/lightning-hydra-template

Copies the checkout twice into a temporary directory (the checkout itself is not touched), writes a stand-in
MNIST made from scikit-learn's digits into each copy's data/ (torchvision's raw files: 60,000 + 10,000 images
of 28x28, so its datamodule finds them and downloads nothing), adds ``- override sweeper: category`` to the
second copy's ``configs/hydra/default.yaml``, and runs ``pytest tests/test_sweeps.py`` in each. Prints each test's
outcome with each sweeper. Needs what the template's tests import: ``pip install lightning torchmetrics
hydra-colorlog rootutils sh "setuptools<81"`` beside hpsweep.
"""

import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

SWEEPER_LINE = "  - override job_logging: colorlog\n"


def write_stand_in_mnist(data_dir: Path) -> None:
    """torchvision's MNIST raw files, drawn from the 1,797 digits (8x8, scaled to 24x24 and padded to 28x28)."""
    raw = data_dir / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    images = np.pad((digits.images / 16 * 255).astype(np.uint8).repeat(3, axis=1).repeat(3, axis=2),
                    ((0, 0), (2, 2), (2, 2)))
    rng = np.random.default_rng(0)
    for name, count in (("train", 60000), ("t10k", 10000)):
        drawn = rng.integers(0, len(images), count)
        (raw / f"{name}-images-idx3-ubyte").write_bytes(struct.pack(">IIII", 2051, count, 28, 28) +
                                                         images[drawn].tobytes())
        (raw / f"{name}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, count) +
                                                         digits.target[drawn].astype(np.uint8).tobytes())


def run_tests(project: Path) -> dict[str, str]:
    """Each test of the template's tests/test_sweeps.py and its outcome (PASSED, FAILED, ...)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # sh.python
    finished = subprocess.run([sys.executable, "-m", "pytest", "tests/test_sweeps.py", "-rA", "-q", "--color=no",
                               "-p", "no:cacheprovider"], cwd=project, env=env, capture_output=True, text=True)
    return dict((name, outcome) for outcome, name in
                re.findall(r"^(PASSED|FAILED|ERROR|SKIPPED)\S* tests/test_sweeps.py::(\w+)", finished.stdout, re.M))


def _top_level(root: Path, *names: str):
    """A copytree ``ignore`` that leaves out these names at the top of ``root`` only (configs/data is kept)."""
    return lambda directory, entries: [name for name in entries if name in names and Path(directory) == Path(root)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("template", type=Path, help="a checkout of ashleve/lightning-hydra-template")
    arguments = parser.parse_args()
    outcomes = {}
    with tempfile.TemporaryDirectory() as top:
        for sweeper in ("basic", "category"):
            project = Path(top) / sweeper
            shutil.copytree(arguments.template, project, ignore=_top_level(arguments.template, ".git", "logs", "data"))
            write_stand_in_mnist(project / "data")
            if sweeper == "category":
                hydra_default = project / "configs" / "hydra" / "default.yaml"
                text = hydra_default.read_text()
                assert SWEEPER_LINE in text, f"{hydra_default}: no job_logging override to add the sweeper after"
                hydra_default.write_text(text.replace(SWEEPER_LINE, SWEEPER_LINE + "  - override sweeper: category\n"))
            outcomes[sweeper] = run_tests(project)
    tests = sorted(set(outcomes["basic"]) | set(outcomes["category"]))
    print(f"{'test':36} {'BasicSweeper':>13} {'category':>13}")
    for test in tests:
        print(f"{test:36} {outcomes['basic'].get(test, '-'):>13} {outcomes['category'].get(test, '-'):>13}")
    passed = {sweeper: sum(outcome == "PASSED" for outcome in found.values()) for sweeper, found in outcomes.items()}
    print(f"passed: BasicSweeper {passed['basic']}, category {passed['category']} of {len(tests)}")
    lost = [test for test in tests if outcomes["basic"].get(test) == "PASSED" != outcomes["category"].get(test)]
    if lost:
        sys.exit(f"passes with the BasicSweeper only: {', '.join(lost)}")


if __name__ == "__main__":
    main()
