"""Several trainings per GPU (``hydra.sweeper.jobs_per_gpu``) on one machine, and the memory check before start.

No GPU is needed: the queue pins each worker through CUDA_VISIBLE_DEVICES, which every result records, and
the memory check reads recorded peaks (``peak_memory_mb``) against ``hydra.launcher.gpu_memory_gb``.
"""

import json

import pytest
from conftest import flat
from omegaconf import OmegaConf
from test_sweeps import ENV, results, run_sweep  # noqa: F401

from hpsweep.core.trainings import Row, Training
from hpsweep.sweep.memory import CUDA_CONTEXT_MB, fit_problems
from hpsweep.sweep.outcomes import Outcome

LOCAL = ["hydra/launcher=local", "hydra.launcher.gpus_per_node=2", "hydra.sweeper.jobs_per_gpu=2",
         "model=test_resnet", "category=loss_function,optimizer", "trainer.max_epochs=1", "data.image_size=16"]


@pytest.fixture(scope="module")
def shared_gpus(tmp_path_factory):
    """4 trainings on 2 GPUs, 2 per GPU."""
    sweep_dir = tmp_path_factory.mktemp("gpus") / "sweep"
    finished = run_sweep(sweep_dir, *LOCAL, env={**ENV, "CUDA_VISIBLE_DEVICES": "0,1"})
    assert finished.returncode == 0, finished.stderr[-3000:]
    return sweep_dir, finished


@pytest.mark.slow
@pytest.mark.xdist_group("shared_gpus")
def test_two_trainings_per_gpu_on_two_gpus_run_on_four_workers(shared_gpus):
    sweep_dir, finished = shared_gpus
    assert "4 workers on GPUs 0,1, worker w on GPU w mod 2" in finished.stdout
    found = results(sweep_dir)
    assert len(found) == 4 and {result["status"] for result in found.values()} == {"completed"}
    assert sorted(result["gpu"] for result in found.values()) == ["0", "0", "1", "1"]
    jobs = [json.loads((sweep_dir / name / "job.json").read_text()) for name in found]
    assert sorted(job["gpu"] for job in jobs) == ["0", "0", "1", "1"], "job.json says it from the start"
    records = list(found.values())
    assert max(r["started_at"] for r in records) < min(r["ended_at"] for r in records), "all four at once"


@pytest.mark.slow
@pytest.mark.xdist_group("shared_gpus")
def test_trainings_that_cannot_share_a_gpu_are_refused_before_any_starts(shared_gpus):
    sweep_dir, _ = shared_gpus
    base = sweep_dir / "test_resnet/base/result.json"
    record = json.loads(base.read_text())
    base.write_text(json.dumps({**record, "peak_memory_mb": 30000}))  # as a CUDA training records it
    before = {path: path.stat().st_mtime_ns for path in sweep_dir.glob("**/*.json")}
    refused = run_sweep(sweep_dir, *LOCAL, "hydra.sweeper.resume=false", "hydra.launcher.gpu_memory_gb=40",
                        env={**ENV, "CUDA_VISIBLE_DEVICES": "0,1"})
    refused.stderr = flat(refused.stderr)
    assert refused.returncode == 1
    assert "hydra.sweeper.jobs_per_gpu=2: 2 trainings that may share a GPU need 61000 MB" in refused.stderr
    assert "more than its 40960 MB" in refused.stderr
    assert "test_resnet / base" in refused.stderr and "30000 MB (recorded)" in refused.stderr
    assert "30000 MB (estimated from test_resnet / base" in refused.stderr, "the others' from the same model"
    assert "nothing was started" in refused.stderr
    assert {path: path.stat().st_mtime_ns for path in sweep_dir.glob("**/*.json")} == before, "nothing written"


def test_a_peak_is_estimated_from_the_same_model_scaled_by_batch_and_pixels_never_down(tmp_path):
    def outcome(option: str, batch_size: int, image_size: int, peak: float | None) -> tuple[Outcome, object]:
        directory = tmp_path / option
        directory.mkdir()
        if peak is not None:
            (directory / "result.json").write_text(json.dumps({"status": "completed", "peak_memory_mb": peak}))
        training = Training((f"batch_size={option}",), (Row("vit", "batch_size", option),), swept=True)
        cfg = OmegaConf.create({"model": {"name": "vit_base"}, "data": {"batch_size": batch_size,
                                                                       "image_size": image_size}})
        return Outcome.of(training, directory, option), cfg

    made = [outcome("b32", 32, 224, 10000), outcome("b64", 64, 224, None), outcome("b16", 16, 224, None)]
    outcomes = [item for item, _ in made]
    config_of = {item.fingerprint: cfg for item, cfg in made}
    problems = fit_problems(outcomes, config_of, jobs_per_gpu=2, gpu_memory_mb=25000)
    assert problems and f"need {20000 + 10000 + 2 * CUDA_CONTEXT_MB} MB" in problems[0]
    assert "vit / batch_size / b64: 20000 MB (estimated from vit / batch_size / b32)" in problems[0]
    assert "b32: 10000 MB (recorded)" in problems[0]
    assert fit_problems(outcomes, config_of, jobs_per_gpu=2, gpu_memory_mb=40000) == []
    assert fit_problems(outcomes, config_of, jobs_per_gpu=2, gpu_memory_mb=None) == [], "unknown memory: no check"
    assert fit_problems(outcomes, config_of, jobs_per_gpu=1, gpu_memory_mb=10000) == [], "alone, it fitted"


def test_jobs_per_gpu_must_be_a_positive_integer_and_says_where_it_does_nothing(tmp_path):
    refused = run_sweep(tmp_path / "sweep", "category=optimizer", "hydra.sweeper.jobs_per_gpu=0")
    assert refused.returncode == 1
    assert "hydra.sweeper.jobs_per_gpu=0: expected an integer >= 1" in refused.stderr
    basic = run_sweep(tmp_path / "sweep", "category=optimizer", "model=test_resnet,test_resnt",
                      "hydra.sweeper.jobs_per_gpu=2")
    assert basic.returncode == 1 and "closest: test_resnet" in basic.stderr  # the pre-flight: nothing trained
    assert "hydra.sweeper.jobs_per_gpu=2 does nothing here" in basic.stdout


def test_a_mistyped_fixed_option_of_a_sweep_gets_the_closest_names_not_hydras_search_path(tmp_path):
    mistyped = run_sweep(tmp_path / "sweep", "category=optimizer", "model=test_resnt")
    assert mistyped.returncode == 1
    assert mistyped.stderr == ("error: model='test_resnt': no model/test_resnt.yaml in the config dir; "
                               "closest: test_resnet\n")
