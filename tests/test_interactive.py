"""The interactive mode, driven by real keystrokes in a pseudo-terminal, and the seed's runner flags."""

import ast
import json
import os
import re
import subprocess
import sys

import pexpect
import pytest
from conftest import ROOT, sweep_counts

pytestmark = pytest.mark.slow
DOWN, SPACE, ENTER = "\x1b[B", " ", "\r"
# without the base's control seeds (test_sweeps.NO_CONTROL): the counts are the plan's own
TINY = ["data.image_size=16", "trainer.max_epochs=1", "trainer.progress_bar=false", "logger.mode=offline",
        "hydra.sweeper.control_seeds=0"]


def plain(text: str) -> str:
    """Terminal output without its styling escapes."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)


# the terminal's own size (the pty's 100 columns), not a COLUMNS that pytest's workers may have set
TERMINAL_ENV = {key: value for key, value in os.environ.items() if key not in ("COLUMNS", "LINES")}


def test_menus_launch_the_same_sweep_as_the_command_line(tmp_path):
    sweep_dir = tmp_path / "sweep"
    child = pexpect.spawn(sys.executable, ["-m", "hpsweep.cli", "interactive", *TINY, f"hydra.sweep.dir={sweep_dir}"],
                          cwd=ROOT, env={**TERMINAL_ENV, "WANDB_SILENT": "true", "TERM": "xterm"},
                          dimensions=(50, 100), encoding="utf-8", timeout=120)
    child.expect("Models")
    models = sorted(path.stem for path in (ROOT / "conf" / "model").glob("*.yaml"))
    child.send(DOWN * models.index("test_resnet") + SPACE + ENTER)
    child.expect("Categories")
    child.expect("early_stopping \\(3 options\\)")
    child.expect("augmentation \\(6 options\\)")  # folders outside the seed's list are offered too
    child.expect("fold \\(5 options, repeats each row: a replicate, not a choice\\)")
    child.send(DOWN * 5 + SPACE + ENTER)  # optimizer, scheduler, loss_function, image_size, batch_size, early_stopping
    child.expect("Launcher")
    child.send(ENTER)  # basic
    child.expect("Launch this sweep")
    shown = plain(child.before)
    assert "3 rows: 1 model(s) x 1 categories (early_stopping)" in shown
    assert "es_patience5_<ts>" in shown
    child.send("y")
    child.expect(pexpect.EOF)
    child.close()
    output = plain(child.before)
    assert ("equivalent command: python run_experiments.py -m model=test_resnet category=early_stopping "
            "data.image_size=16") in " ".join(output.replace("\\\r\n", " ").split()), "a command to paste, over lines"
    assert sweep_counts(output) == {"trainings": 3, "completed": 1, "answered by a shared trajectory": 2}, \
        "the patience options differ only in when they stop: one training answers all three"
    # the sweep in the terminal: its live line of counts while it ran, a line per finished training, then its answer
    assert "0 of 3 trainings done · 1 running · 2 queued" in output
    assert re.search(r"\[3/3\] test_resnet base completed, val_f1 0\.\d{4}, \d+ s, answering 2 more from its "
                     r"trajectory", output)
    assert re.search(r"^test_resnet\r?\n  early_stopping: keep patience10 \(base\); ", output, re.MULTILINE)
    assert "the page, to open in a browser:" in output
    assert "epoch 1/1" not in output, "a training's own lines go to its log file"
    wide = [line for line in re.split(r"[\r\n]+", output) if len(line) > 100 and "file://" not in line]
    assert wide == [], "every line fits the terminal"
    assert child.exitstatus == 0
    options = sorted(row["option"] for path in sweep_dir.glob("**/result.json")
                     for row in json.loads(path.read_text())["rows"] if row["category"])
    assert options == ["patience10", "patience20", "patience5"], "patience10 trained as the base"


def test_seed_runner_flags_forward_to_the_sweep(tmp_path):
    sweep_dir = tmp_path / "sweep"
    finished = subprocess.run([sys.executable, "-m", "hpsweep.cli", "run", "--models", "test_resnet",
                               "--categories", "optimizer", *TINY, f"hydra.sweep.dir={sweep_dir}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "WANDB_SILENT": "true"})
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "equivalent command: python run_experiments.py -m model=test_resnet category=optimizer" in \
        " ".join(finished.stdout.replace("\\\n", " ").split())
    assert len(list(sweep_dir.glob("**/result.json"))) == 2


def test_the_menus_do_not_import_the_command_line():
    """``hpsweep.cli`` uses the menus; the menus never import it back (one layer knows both)."""
    source = (ROOT / "src/hpsweep/sweep/interactive.py").read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert not any(name.startswith("hpsweep.cli") for name in imported), imported
