"""Shared helpers: the real config, composed once per call and shrunk to CPU size, and subprocess runs."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig

from hpsweep.core.compose import compose_config, compose_job
from hpsweep.core.naming import without_run_names

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
# Small enough for a 2-core CPU: timm's tiny test model on 32 px digits.
CPU_SIZE = ["model=test_resnet", "data.image_size=32", "data.batch_size=64", "trainer.max_epochs=2",
            "trainer.progress_bar=false", "logger.mode=offline"]
CATEGORIES = ["optimizer", "scheduler", "loss_function", "image_size", "batch_size", "early_stopping"]
# timm's recipe: swept by naming them, not in category=all
RECIPE_CATEGORIES = ["scheduler_warmup", "regularization", "mixup", "ema", "grad_clip"]


def option_names(category: str) -> list[str]:
    """Every option file of a category, so a new option is tested without a new test."""
    return sorted(path.stem for path in (CONF_DIR / category).glob("*.yaml"))


def compose(*overrides: str):
    return compose_config(CONF_DIR, list(overrides))


def compose_training(*overrides: str):
    """A config as the training reads it: the options' run-name patterns (``_run_name_``) taken out, as a job does."""
    return without_run_names(compose(*overrides))


@pytest.fixture
def in_process_job(tmp_path, monkeypatch):
    """Compose a CPU-sized job and set Hydra's runtime state as @hydra.main would; returns the task config."""
    monkeypatch.setenv("WANDB_SILENT", "true")

    def make(*overrides: str):
        return compose_job(CONF_DIR, [*CPU_SIZE, *overrides], tmp_path)

    yield make
    HydraConfig.instance().cfg = None


@pytest.fixture
def keep_sigchld():
    """A stop signal sets SIGCHLD aside for good (the process is ending); this test process goes on."""
    handler = signal.getsignal(signal.SIGCHLD)
    yield
    signal.signal(signal.SIGCHLD, handler)


def run_experiments(run_dir: Path, *overrides: str, config_dir: Path | None = None,
                    timeout: int = 300) -> subprocess.CompletedProcess:
    """``python run_experiments.py`` as a user runs it, writing into ``run_dir``."""
    env = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
    config = ["--config-path", str(config_dir), "--config-name", "config"] if config_dir else []
    return subprocess.run(
        [sys.executable, str(ROOT / "run_experiments.py"), *config, *CPU_SIZE, *overrides, f"hydra.run.dir={run_dir}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    """What the suite's commands print, in the tests' process or as subprocesses, is read at a width where nothing
    wraps, so that a sentence holding a temporary path reads the same wherever pytest puts it (pytest-xdist's workers
    would otherwise print at its COLUMNS=80). Set before the test modules are imported (some build their subprocesses'
    environment then); pytest's own report keeps the terminal's width. The tests of widths set COLUMNS themselves
    (tests/test_glance.py, tests/test_screens.py, the pseudo-terminal's in tests/test_interactive.py, the shared
    turned sweep's 100)."""
    if config.pluginmanager.has_plugin("terminalreporter"):
        writer = config.get_terminal_writer()
        writer.fullwidth = writer.fullwidth  # measured now, before COLUMNS changes, and kept
    os.environ["COLUMNS"] = "1000"
    os.environ.pop("LINES", None)


def flat(text: str) -> str:
    """Printed text with its line breaks and indents as single spaces: what a sentence says, however the terminal's
    width wrapped it."""
    return " ".join(text.split())


def sweep_counts(output: str) -> dict[str, int]:
    """The counts a sweep ends with (``12 trainings: 7 completed, 5 not trained``, its wrapped lines joined), by word;
    {"trainings": the total} too."""
    lines = output.splitlines()
    start = max(number for number, line in enumerate(lines) if re.match(r"\d+ trainings: ", line))
    end = next((number for number in range(start + 1, len(lines)) if not lines[number].startswith("  ")), len(lines))
    text = " ".join(line.strip() for line in lines[start:end])
    total, counted = text.split(" trainings: ", 1)
    return {"trainings": int(total), **{word: int(count) for count, word in re.findall(r"(\d+) ([a-z][a-z ]*[a-z])",
                                                                                      counted)}}


def pytest_terminal_summary(terminalreporter):
    """The fault suite (tests/test_faults.py) says how many cases it tried, and the hostile inputs apart: what
    someone with write access to a shared sweep dir may leave there (tests marked ``hostile``), each refused."""
    tried, hostile = {}, {}  # a case's worst outcome: a teardown error counts against a passed call
    for status in ("passed", "skipped", "failed", "error"):
        for report in terminalreporter.stats.get(status, []):
            nodeid = getattr(report, "nodeid", "")
            if nodeid.startswith("tests/test_faults.py"):
                tried[nodeid] = status
            if "hostile" in getattr(report, "keywords", {}):
                hostile[nodeid] = status
    if tried:
        counts = {status: list(tried.values()).count(status) for status in ("passed", "skipped", "failed", "error")}
        terminalreporter.write_line(f"fault suite: {len(tried)} cases tried, " + ", ".join(
            f"{count} {status}" for status, count in counts.items() if count))
    if hostile:
        refused = list(hostile.values()).count("passed")
        terminalreporter.write_line(f"hostile inputs: {len(hostile)} tried, {refused} refused")


def turned_arguments(root: Path) -> list[str]:
    """The command line of the ``turned`` sweep, on the competition under ``root``."""
    return [*CPU_SIZE, "category=augmentation", "data=csv", f"data.root={root}",
            "data.val_distortions=[rot90,rot180,rot270]", "trainer.max_epochs=20", "data.batch_size=32",
            "hydra.sweeper.pruner=none", "logger.mode=disabled",
            "hydra.sweeper.control_seeds=2"]  # one seed: each option is tested against the base's 3 seeds


@pytest.fixture(scope="session")
def turned(tmp_path_factory):
    """One sweep of the augmentation category on the turned competition (``competition_data``; test_resnet,
    32 px, 20 epochs, decided on the turned views), its page read every 0.2 s while it runs; run as the docs show
    a sweep (``hydra.sweep.dir=outputs/sweeps/turned``, 100 columns, piped), so that its end screen is the one
    docs/getting-started.md shows. Returns (sweep dir, data root, hidden test labels, the sweep's output, the page's
    snapshots)."""
    from competition_data import write_turned_competition

    top = tmp_path_factory.mktemp("turned")
    root, hidden = write_turned_competition(top / "data")
    sweep_dir = top / "outputs" / "sweeps" / "turned"
    page = sweep_dir / "report" / "index.html"
    command = [sys.executable, str(ROOT / "run_experiments.py"), "-m", *turned_arguments(root),
               "hydra.sweep.dir=outputs/sweeps/turned"]
    env = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    snapshots = []
    with open(top / "output.txt", "w+") as output:
        process = subprocess.Popen(command, cwd=top, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        while process.poll() is None:
            try:
                text = page.read_text()
            except OSError:  # not written yet
                text = None
            if text and (not snapshots or snapshots[-1] != text):
                snapshots.append(text)
            time.sleep(0.2)
        snapshots.append(page.read_text())
        output.seek(0)
        printed = output.read()
    assert process.returncode == 0, printed[-3000:]
    return sweep_dir, root, hidden, printed, snapshots
