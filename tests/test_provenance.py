"""Every number traceable: each result records the code, data and packages that made it; an edited option, new
data or other code never passes for the old (``hpsweep.core.provenance``)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from competition_data import write_competition
from conftest import CONF_DIR, ROOT, flat
from omegaconf import OmegaConf
from test_sweeps import NO_CONTROL

from hpsweep.core.fingerprints import fingerprint
from hpsweep.core.provenance import code_label, code_unknown, code_version
from hpsweep.core.records import in_attempt
from hpsweep.data.digests import data_digest
from hpsweep.sweep.outcomes import archive_attempt
from hpsweep.sweep.plan import existing_jobs

ENV = {**os.environ, "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
TINY = ["model=test_resnet", "data.image_size=16", "data.batch_size=64", "trainer.max_epochs=1",
        "trainer.progress_bar=false", "logger.mode=disabled", "hydra.sweeper.pruner=none"]
GIT = ["git", "-c", "user.name=hpsweep", "-c", "user.email=hpsweep@localhost", "-c", "commit.gpgsign=false"]


def csv_data(root: Path, **keys) -> dict:
    return {"_target_": "hpsweep.train.data.csv", "root": str(root), "train_csv": "train.csv", "images_dir": "train",
            "id_column": "ID", "target_column": "target", "meta_csv": "auto", "test_dir": "auto",
            "sample_submission": "auto", **keys}


def relabel(root: Path, every: int = 5) -> None:
    """Give every ``every``-th training image another class, as a fix of the labels would."""
    lines = (root / "train.csv").read_text().splitlines()
    for number in range(1, len(lines), every):
        image, target = lines[number].split(",")
        lines[number] = f"{image},{(int(target) + 1) % 17}"
    (root / "train.csv").write_text("\n".join(lines) + "\n")


# --- data ---------------------------------------------------------------------------------------------------

def test_the_data_digest_follows_what_a_training_reads_and_nothing_else(tmp_path):
    root = write_competition(tmp_path / "data", per_class=2, test_images=3)
    first = data_digest(csv_data(root))
    assert first["layout"] == "csv" and first["files"] == 17 * 2 + 3 + 3, "train.csv, meta.csv, submission, images"
    (root / "notes.txt").write_text("not read")
    (root / "old_train.csv").write_text("ID,target\n")
    shutil.copy(next((root / "train").iterdir()), root / "train" / "unlisted.png")  # in no CSV row
    assert data_digest(csv_data(root))["digest"] == first["digest"], "files the data config does not read"

    relabel(root)
    relabelled = data_digest(csv_data(root))
    assert relabelled["digest"] != first["digest"], "a label changed"
    image = root / "train" / (root / "train.csv").read_text().splitlines()[1].split(",")[0]
    by_content = data_digest(csv_data(root, fingerprint="content"))
    os.utime(image, (time.time() + 100, time.time() + 100))
    assert data_digest(csv_data(root))["digest"] != relabelled["digest"], "stat: a touched image counts"
    assert data_digest(csv_data(root, fingerprint="content")) == by_content, "content: only its bytes count"
    image.write_bytes(image.read_bytes() + b"\0")
    assert data_digest(csv_data(root, fingerprint="content"))["digest"] != by_content["digest"]


def test_the_digest_of_an_image_folder_and_of_a_bundled_set(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "pets" / name).mkdir(parents=True)
        (tmp_path / "pets" / name / "1.png").write_bytes(b"png")
    folder = {"_target_": "hpsweep.train.data.image_folder", "root": str(tmp_path / "pets"), "test_dir": None}
    first = data_digest(folder)
    (tmp_path / "pets" / "cat" / "README.md").write_text("not an image")
    assert data_digest(folder) == first
    (tmp_path / "pets" / "dog" / "2.png").write_bytes(b"png")
    assert data_digest(folder)["digest"] != first["digest"], "an image added"
    assert data_digest({"_target_": "hpsweep.train.data.digits"}) == {
        "layout": "digits", "source": "sklearn.datasets.load_digits", "digest": None}
    assert data_digest({"_target_": "my_app.Data", "root": "/x"}) is None, "another app's data: not known"


def test_the_data_digest_is_part_of_a_fingerprint_and_its_mode_is_not():
    cfg = OmegaConf.create({"model": {"name": "m"}, "data": {"root": "/d", "fingerprint": "stat"}})
    content = OmegaConf.create({"model": {"name": "m"}, "data": {"root": "/d", "fingerprint": "content"}})
    assert fingerprint(cfg) == fingerprint(content), "how the files are digested is not what they hold"
    assert fingerprint(cfg, "abc") != fingerprint(cfg, "abd") != fingerprint(cfg)


# --- code ---------------------------------------------------------------------------------------------------

def git(repo: Path, *arguments: str) -> str:
    return subprocess.run([*GIT, "-C", str(repo), *arguments], check=True, capture_output=True, text=True).stdout


def test_the_code_version_of_a_git_tree(tmp_path):
    repo = tmp_path / "repo"
    (repo / "conf").mkdir(parents=True)
    (repo / "train.py").write_text("print(1)\n")
    (repo / "README.md").write_text("# notes\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    clean = code_version(repo / "train.py")
    assert clean == {"commit": git(repo, "rev-parse", "HEAD").strip(), "dirty": False, "diff": None,
                     "repo": str(repo.resolve())}
    (repo / "sweep" / ".hydra").mkdir(parents=True)  # what a run leaves in a tree that git does not ignore
    (repo / "sweep" / ".hydra" / "config.yaml").write_text("a: 1\n")
    (repo / "sweep" / "result.json").write_text("{}")
    assert code_version(repo / "train.py") == clean, "results and Hydra's records are not code"
    (repo / "README.md").write_text("# notes, edited\n")
    (repo / "docs").mkdir()
    (repo / "docs" / "howto.md").write_text("new page\n")
    assert code_version(repo / "train.py") == clean, "an edited README or a new docs page is not code"
    (repo / "train.py").write_text("print(2)\n")
    first_edit = code_version(repo / "conf" / "x.yaml")  # any folder of the tree
    assert first_edit["dirty"] and first_edit["commit"] == clean["commit"]
    assert code_label(first_edit) == f"{clean['commit'][:7]}+dirty-{first_edit['diff'][:7]}"
    (repo / "helper.py").write_text("x = 1\n")  # untracked code counts
    second = code_version(repo / "train.py")
    assert second["dirty"] and second["diff"] != first_edit["diff"], "two dirty trees are told apart"
    outside = tmp_path / "elsewhere" / "app.py"
    outside.parent.mkdir()
    assert code_version(outside) == {"commit": None, "dirty": None, "diff": None, "repo": None}
    assert code_unknown(code_version(outside), outside).endswith("is not in a git repository")


# --- attempts -----------------------------------------------------------------------------------------------

def test_a_fresh_start_archives_the_attempt_it_replaces_and_nothing_reads_it_as_a_training(tmp_path):
    job = tmp_path / "sweep" / "m" / "base"
    job.mkdir(parents=True)
    for name, text in (("job.json", '{"fingerprint": "f1"}'), ("result.json", '{"status": "completed"}'),
                       ("history.csv", "epoch\n1\n"), ("claim.json", "{}"), ("best_model.pt", "w")):
        (job / name).write_text(text)
    assert archive_attempt(job) == job / "attempts" / "1"
    assert sorted(path.name for path in job.iterdir()) == ["attempts", "claim.json"], "the claim stays"
    (job / "result.json").write_text('{"status": "failed"}')
    assert archive_attempt(job) == job / "attempts" / "2"
    assert sorted(path.name for path in (job / "attempts" / "1").iterdir()) == [
        "best_model.pt", "history.csv", "job.json", "result.json"]
    assert in_attempt(job / "attempts" / "1" / "job.json", tmp_path / "sweep")
    assert existing_jobs(tmp_path / "sweep") == {}, "an archived job.json is no training's directory"


# --- sweeps -------------------------------------------------------------------------------------------------

def sweep(sweep_dir: Path, *arguments: str, script: Path = ROOT / "run_experiments.py", config_dir: Path | None = None):
    config = ["--config-path", str(config_dir), "--config-name", "config"] if config_dir else []
    return subprocess.run([sys.executable, str(script), *config, "-m", *TINY, NO_CONTROL, *arguments,
                           f"hydra.sweep.dir={sweep_dir}"], cwd=script.parent, env=ENV, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=600)  # its log and its errors, in order


def results(sweep_dir: Path) -> dict[str, dict]:
    return {str(path.parent.relative_to(sweep_dir)): json.loads(path.read_text())
            for path in sorted(sweep_dir.glob("**/result.json")) if not in_attempt(path, sweep_dir)}


def summary_rows(sweep_dir: Path, tmp_path: Path) -> dict[str, dict]:
    out = tmp_path / f"rows-{time.monotonic_ns()}.json"
    finished = subprocess.run([sys.executable, "-m", "hpsweep.cli", "summary", str(sweep_dir), "--json", str(out),
                               "--no-plots"], capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stdout
    return {row["option"]: row for row in json.loads(out.read_text())}


def counts(output: str) -> tuple[int, int]:
    """(to run, already done) from the sweep's log line."""
    found = re.search(r"(\d+) trainings: (\d+) to run, (\d+) already done", output)
    assert found, output[-3000:]
    return int(found[2]), int(found[3])


@pytest.mark.slow
def test_a_rerun_trains_exactly_what_an_edited_added_or_removed_option_changed(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF_DIR, conf)
    sweep_dir = tmp_path / "sweep"
    first = sweep(sweep_dir, "category=loss_function", config_dir=conf)
    assert first.returncode == 0, first.stdout[-3000:]
    assert counts(first.stdout) == (3, 0)
    again = sweep(sweep_dir, "category=loss_function", config_dir=conf)
    assert "nothing to run" in flat(again.stdout), "nothing changed: the finished sweep reports at once"

    option = conf / "loss_function" / "LabelSmoothing.yaml"
    option.write_text(option.read_text().replace("label_smoothing: 0.1", "label_smoothing: 0.15"))
    edited = sweep(sweep_dir, "category=loss_function", config_dir=conf)
    assert "nothing to run" not in edited.stdout and counts(edited.stdout) == (1, 2), "only the edited option"
    rows = summary_rows(sweep_dir, tmp_path)
    smoothing = OmegaConf.load(Path(rows["LabelSmoothing"]["directories"][0]) / ".hydra/config.yaml")
    assert smoothing.loss_function.label_smoothing == 0.15, "the summary reports the edited option's training"

    (conf / "loss_function" / "Smoothest.yaml").write_text(option.read_text().replace("0.15", "0.3"))
    added = sweep(sweep_dir, "category=loss_function", config_dir=conf)
    assert counts(added.stdout) == (1, 3), "only the new option"
    (conf / "loss_function" / "Focal.yaml").unlink()
    removed = sweep(sweep_dir, "category=loss_function", config_dir=conf)
    assert "nothing to run" not in removed.stdout and counts(removed.stdout) == (0, 3)
    assert sorted(summary_rows(sweep_dir, tmp_path)) == ["CrossEntropy", "LabelSmoothing", "Smoothest"]


@pytest.mark.slow
def test_a_label_change_trains_every_training_again_and_counts_none_of_the_old(tmp_path):
    root = write_competition(tmp_path / "data", per_class=6, test_images=0)
    sweep_dir = tmp_path / "sweep"
    arguments = ["category=loss_function", "data=csv", f"data.root={root}", "data.val_fraction=0.3"]
    first = sweep(sweep_dir, *arguments)
    assert first.returncode == 0, first.stdout[-3000:]
    before = results(sweep_dir)
    digest = before["test_resnet/base"]["provenance"]["data"]["digest"]
    assert before["test_resnet/base"]["provenance"]["data"]["files"] == 17 * 6 + 3  # its images and three CSVs

    relabel(root)
    matrix = subprocess.run([sys.executable, "-m", "hpsweep.cli", "matrix", *TINY, *arguments,
                             f"hydra.sweep.dir={sweep_dir}"], cwd=ROOT, env=ENV, capture_output=True, text=True,
                            timeout=300)
    assert matrix.returncode == 0, matrix.stderr
    assert f"3 of them are new: the data they read changed since they were trained in {sweep_dir}" in \
        flat(matrix.stdout)
    again = sweep(sweep_dir, *arguments)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "3 training(s) are new: the data they read changed" in again.stdout
    assert counts(again.stdout) == (3, 0), "every training again"
    after = {name: result for name, result in results(sweep_dir).items() if name not in before}
    assert len(after) == 3 and all(result["provenance"]["data"]["digest"] != digest for result in after.values())
    rows = summary_rows(sweep_dir, tmp_path)
    assert all(row["n"] == 1 and all(directory not in {str(sweep_dir / name) for name in before}
                                     for directory in row["directories"]) for row in rows.values()), \
        "the old data's trainings count in no row"
    assert all((sweep_dir / name / "result.json").is_file() for name in before), "and stay on disk"


@pytest.fixture
def app_repo(tmp_path):
    """hpsweep's app (its script and config) in a git repository of its own, committed."""
    repo = tmp_path / "app"
    repo.mkdir()
    shutil.copy(ROOT / "run_experiments.py", repo)
    shutil.copytree(CONF_DIR, repo / "conf")
    (repo / ".gitignore").write_text("outputs/\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "the app")
    return repo


@pytest.mark.slow
def test_other_code_is_said_marked_and_trained_again_on_request(app_repo, tmp_path):
    sweep_dir = app_repo / "outputs" / "sweep"
    arguments = ["category=optimizer"]
    first = sweep(sweep_dir, *arguments, script=app_repo / "run_experiments.py")
    assert first.returncode == 0, first.stdout[-3000:]
    old = git(app_repo, "rev-parse", "HEAD").strip()
    base = results(sweep_dir)["test_resnet/base"]
    assert base["provenance"]["code"] == {"commit": old, "dirty": False, "diff": None, "repo": str(app_repo)}
    assert base["provenance"]["packages"]["torch"] and base["provenance"]["host"]
    job = json.loads((sweep_dir / "test_resnet/base/job.json").read_text())
    assert job["provenance"]["code"]["commit"] == old, "job.json says it from the start"

    sgd = (app_repo / "conf" / "optimizer" / "SGD.yaml").read_text()
    (app_repo / "conf" / "optimizer" / "Nesterov.yaml").write_text(sgd.replace("nesterov: false", "nesterov: true"))
    git(app_repo, "add", ".")
    git(app_repo, "commit", "-qm", "a new option")
    new = git(app_repo, "rev-parse", "HEAD").strip()
    second = sweep(sweep_dir, *arguments, script=app_repo / "run_experiments.py")
    assert second.returncode == 0, second.stdout[-3000:]
    assert f"2 training(s) were made by other code ({old[:7]}); hydra.sweeper.rerun=stale_code" in flat(second.stdout)
    found = results(sweep_dir)
    assert found["test_resnet/optimizer/Nesterov"]["provenance"]["code"]["commit"] == new
    assert found["test_resnet/optimizer/SGD"]["provenance"]["code"]["commit"] == old
    rows = summary_rows(sweep_dir, tmp_path)
    assert rows["Nesterov"]["code_versions"] == [new[:7]] and rows["SGD"]["code_versions"] == [old[:7]]
    assert all(row["mixed_code"] for row in rows.values()) and not any(row["mixed_packages"] for row in rows.values())
    summary = subprocess.run([sys.executable, "-m", "hpsweep.cli", "summary", str(sweep_dir), "--no-plots"],
                             capture_output=True, text=True, timeout=120)
    assert f"mixed code versions: its numbers were made by {', '.join(sorted([old[:7], new[:7]]))}" in summary.stdout
    best = subprocess.run([sys.executable, "-m", "hpsweep.cli", "best", str(sweep_dir)], capture_output=True,
                          text=True, timeout=120)
    assert best.returncode == 0, best.stderr
    header = (sweep_dir / "best/experiment/best_test_resnet.yaml").read_text()
    assert "# Chosen from trainings of code" in header and "on data digits" in header
    assert f"# mixed code versions in optimizer: {', '.join(sorted([old[:7], new[:7]]))}" in header
    status = subprocess.run([sys.executable, "-m", "hpsweep.cli", "status", str(sweep_dir)], capture_output=True,
                            text=True, timeout=120)
    assert f"\t{old[:7]}\t" in status.stdout and f"\t{new[:7]}\t" in status.stdout, status.stdout

    (app_repo / "conf" / "config.yaml").write_text((app_repo / "conf" / "config.yaml").read_text() + "\n")
    dirty = code_label(code_version(app_repo / "run_experiments.py"))
    retrained = sweep(sweep_dir, *arguments, "hydra.sweeper.rerun=stale_code", script=app_repo / "run_experiments.py")
    assert retrained.returncode == 0, retrained.stdout[-3000:]
    assert "training them again (hydra.sweeper.rerun=stale_code)" in flat(retrained.stdout)
    assert counts(retrained.stdout) == (3, 0)
    assert {code_label(result["provenance"]["code"]) for result in results(sweep_dir).values()} == {dirty}
    assert dirty.startswith(f"{new[:7]}+dirty-")
    archived = json.loads((sweep_dir / "test_resnet/base/attempts/1/result.json").read_text())
    assert archived["provenance"]["code"]["commit"] == old, "the attempt it replaced is kept whole"
    assert json.loads((sweep_dir / "test_resnet/base/job.json").read_text())["wandb_run_id"] != \
        json.loads((sweep_dir / "test_resnet/base/attempts/1/job.json").read_text())["wandb_run_id"], "a new W&B run"


@pytest.mark.slow
def test_an_app_outside_git_records_nulls_and_says_so_once(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    shutil.copy(ROOT / "run_experiments.py", app)
    shutil.copytree(CONF_DIR, app / "conf")
    finished = sweep(tmp_path / "sweep", "category=loss_function", script=app / "run_experiments.py")
    assert finished.returncode == 0, finished.stdout[-3000:]
    assert all(result["provenance"]["code"] == {"commit": None, "dirty": None, "diff": None, "repo": None}
               for result in results(tmp_path / "sweep").values())
    assert flat(finished.stdout).count("is not in a git repository") == 1, "said once, by the sweep, not by each job"
