"""What ``hpsweep status``, ``matrix`` and ``best`` print fits the terminal it is read in (80, 100 or 160 columns):
no line past its edge but a lone path, no word cut, no column empty in every row; and the page's elapsed time and
cost come from the trainings' records."""

import json
import os
import re
from datetime import datetime, timedelta

import pytest
from fake_sweeps import by_option, fake_sweep

from hpsweep.cli import main

WIDTHS = [80, 100, 160]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def screen(capsys) -> list[str]:
    """The lines printed, without colour codes."""
    return ANSI.sub("", capsys.readouterr().out).splitlines()


def assert_fits(lines: list[str], width: int) -> None:
    for line in lines:
        assert len(line) <= width or os.sep in line.strip() and " " not in line.strip(), \
            f"wider than {width}: {line!r}"
        assert "…" not in line, f"a word cut: {line!r}"


@pytest.fixture
def half_done(tmp_path):
    """A sweep of 3 seeds: the base and SGD done, Focal failed once, LabelSmoothing never started."""
    sweep = tmp_path / ("a_sweep_dir_with_a_long_name_" * 3)
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", "seed=1,2,3",
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.90, 0.91, 0.93], "Focal": ["failed", 0.8, 0.79],
                                "LabelSmoothing": [None, None, None]}))
    return sweep


def test_status_piped_is_one_tab_separated_line_per_row_then_the_counts(half_done, capsys):
    assert main(["status", str(half_done)]) == 0
    lines = screen(capsys)
    assert lines[0] == "model\tcategory\toption\treplicates", "no column empty in every row (stops, slurm job...)"
    assert lines[1:5] == ["test_resnet\t-\tbase\t3 completed", "test_resnet\toptimizer\tSGD\t3 completed",
                          "test_resnet\tloss_function\tFocal\t2 completed, 1 failed",
                          "test_resnet\tloss_function\tLabelSmoothing\t3 queued"]
    assert lines[-1] == "12 trainings: 8 completed, 1 failed, 3 queued", "the counts last, for scripts"
    assert main(["status", str(half_done), "--trainings"]) == 0
    lines = screen(capsys)
    assert lines[0] == "model\tcategory\toption\treplicate\tstate"
    assert "test_resnet\tloss_function\tFocal\tseed=1\tfailed" in lines and len(lines[1:-1]) >= 12


def test_status_says_racing_s_rows_not_trained_with_its_reason(half_done, capsys):
    (half_done / "race.json").write_text(json.dumps({"comparisons": [{
        "model": "test_resnet", "setting": [], "stage": 0, "category": "loss_function",
        "eliminated": {"LabelSmoothing": {"after": 1, "reason": "worse", "rule": "worse", "leader": "Focal"}}}]}))
    assert main(["status", str(half_done)]) == 0
    out = "\n".join(screen(capsys))
    assert "test_resnet\tloss_function\tLabelSmoothing\t3 not trained\tworse than Focal" in out
    assert "eliminated" not in out and "stopped" not in out, "the one vocabulary"
    assert out.endswith("12 trainings: 8 completed, 1 failed, 3 not trained")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("trainings", [False, True], ids=["rows", "trainings"])
def test_status_in_a_terminal_fits_its_width(half_done, capsys, monkeypatch, width, trainings):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal
    for name in ("base", "optimizer/SGD"):  # logs: long paths, the first column a narrow terminal leaves out
        for directory in half_done.glob(f"test_resnet/{name}/seed-*"):
            (directory / "run_experiments.log").write_text("")
    assert main(["status", str(half_done), *(["--trainings"] if trainings else [])]) == 0
    lines = screen(capsys)
    assert_fits(lines, width)
    if width < 160:
        assert any(line.startswith("(left out to fit") and "logs" in line for line in lines)
    assert "\t" not in "".join(lines)


@pytest.mark.parametrize("width", WIDTHS)
def test_matrix_fits_the_terminal_and_says_how_to_get_an_estimate(tmp_path, capsys, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    assert main(["matrix", "model=test_resnet,swin_base_patch4_window12_384.ms_in1k", "category=optimizer,image_size",
                 "--results", str(tmp_path)]) == 0
    lines = screen(capsys)
    assert_fits(lines, width)
    assert any("left out to fit 80 columns: run name" in line for line in lines) is (width == 80)
    text = " ".join(" ".join(lines).split())  # the sentences unwrapped
    assert "no time estimate: no past results of swin_base_patch4_window12_384.ms_in1k, test_resnet in " \
           f"{tmp_path}; --results DIR, or hydra.sweep.dir= a sweep dir with results, gives one" in text
    assert "estimate" not in lines[1].split(), "no estimate column where no row has one"


def test_matrix_estimates_from_the_sweep_dir_its_command_line_names(tmp_path, capsys):
    sweep_dir = tmp_path / "sweep"
    (sweep_dir / "past").mkdir(parents=True)
    (sweep_dir / "past/result.json").write_text(json.dumps({
        "status": "completed", "model": "test_resnet", "duration_s": 60.0, "setup": {"image_size": 32}}))
    (sweep_dir / "past/history.csv").write_text("epoch,epoch_s\n1,10.0\n2,10.0\n")
    assert main(["matrix", "model=test_resnet", "category=optimizer", "hydra.sweeper.control_seeds=0",
                 f"hydra.sweep.dir={sweep_dir}", "--results", str(tmp_path / "nothing")]) == 0
    text = " ".join(" ".join(screen(capsys)).split())
    assert "estimated time:" in text and f"from 1 past results of test_resnet in {tmp_path / 'nothing'}, " \
                                         f"{sweep_dir}" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_best_says_plainly_when_every_category_kept_the_base(tmp_path, capsys, monkeypatch, width):
    monkeypatch.setenv("COLUMNS", str(width))
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer,loss_function", "seed=1,2,3",
               value=by_option({"base": [0.80, 0.82, 0.78], "SGD": [0.80, 0.81, 0.79], "Focal": [0.79, 0.8, 0.81],
                                "LabelSmoothing": [0.81, 0.8, 0.79]}))
    assert main(["best", str(sweep)]) == 0
    lines = screen(capsys)
    assert lines[0] == "test_resnet: every category kept the base; the config is the base unchanged"
    assert_fits(lines, width)


def test_best_says_nothing_of_the_base_where_a_category_changed(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", "seed=1,2,3",
               value=by_option({"base": [0.70, 0.71, 0.69], "SGD": [0.90, 0.91, 0.92]}))
    assert main(["best", str(sweep)]) == 0
    assert "kept the base" not in capsys.readouterr().out


def test_the_page_s_elapsed_time_and_cost_come_from_the_trainings_records(half_done, tmp_path):
    (half_done / "multirun.yaml").write_text("hydra: {}\n")
    os.utime(half_done / "multirun.yaml", (0, 0))  # a re-run rewrites it: its time says nothing of the sweep's
    start = datetime(2026, 11, 27, 17, 30).astimezone()
    for number, path in enumerate(sorted(half_done.glob("test_resnet/**/result.json"))):
        record = json.loads(path.read_text())
        record.update(started_at=(start + timedelta(minutes=10 * number)).isoformat(),
                      ended_at=(start + timedelta(minutes=10 * number + 5)).isoformat())
        path.write_text(json.dumps(record))
    out = tmp_path / "page.html"
    assert main(["report", str(half_done), "--out", str(out)]) == 0
    page = out.read_text()
    assert "<dt>started</dt><dd>2026-11-27 17:30</dd>" in page
    assert "elapsed 1.4 h" in page, "the first start (17:30) to the last end (18:55)"
    assert "<dt>cost</dt><dd>9 trainings, 27 epochs" in page, "what trained: LabelSmoothing's 3 never started"


def test_matrix_counts_a_pruned_training_done_not_as_one_racing_never_trained(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    fake_sweep(sweep, "model=test_resnet", "category=optimizer", "hydra.sweeper.control_seeds=0",
               value=by_option({"base": 0.8, "SGD": "pruned"}), real_fingerprints=True)
    (sweep / "race.json").write_text(json.dumps({"comparisons": [
        {"model": "test_resnet", "setting": [], "stage": 0, "category": "optimizer", "eliminated": {"SGD": {
            "after": 1, "test": "pruned", "rule": "pruned", "reason": "a replicate was pruned"}}}]}))
    assert main(["matrix", "model=test_resnet", "category=optimizer", "hydra.sweeper.control_seeds=0",
                 f"hydra.sweep.dir={sweep}", "--results", str(tmp_path / "nothing")]) == 0
    text = " ".join(" ".join(screen(capsys)).split())
    assert f"2 of 2 trainings are done in {sweep}: nothing is left to run" in text, "the pruned one trained"
    assert "not trained" not in text
