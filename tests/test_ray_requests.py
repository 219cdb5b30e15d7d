"""What a sweep asks of Ray, decided from the cluster's resources (no cluster needed: Ray's answers stubbed), and how
``hpsweep status`` tells a training queued in its launcher from one training."""

import logging
import os

import pytest
from omegaconf import OmegaConf

from hpsweep.core.errors import ConfigError
from hpsweep.sweep import claims
from hpsweep.sweep.status import job_states

ray = pytest.importorskip("ray", reason="hpsweep's ray extra is not installed")
from hpsweep.sweep import on_ray  # noqa: E402 - after the skip: it needs Ray


class Launcher:
    """hydra_ray_launcher's RayLauncher as the driver sees it: its ``ray`` config node."""

    def __init__(self, init: dict | None = None, remote: dict | None = None):
        self.ray_cfg = OmegaConf.create({"init": init or {"address": None}, "remote": remote or {}})


def asked(monkeypatch, resources: dict, jobs_per_gpu: int, remote: dict | None = None) -> dict:
    monkeypatch.setattr(ray, "cluster_resources", lambda: resources)
    return on_ray.ask_resources(Launcher(remote=remote), jobs_per_gpu)


def test_a_gpu_is_shared_by_jobs_per_gpu_trainings_with_their_share_of_its_cpus(monkeypatch):
    assert asked(monkeypatch, {"CPU": 16.0, "GPU": 2.0}, 4) == {
        "max_retries": 1, "max_calls": 1, "num_gpus": 0.25, "num_cpus": 2}
    assert asked(monkeypatch, {"CPU": 2.0, "GPU": 2.0}, 4)["num_cpus"] == 0.25, \
        "fewer CPUs than trainings: a fraction, so that the CPUs keep no GPU's trainings apart"


def test_a_cluster_without_gpus_asks_for_none(monkeypatch):
    assert asked(monkeypatch, {"CPU": 8.0}, 2) == {"max_retries": 1, "max_calls": 1, "num_gpus": 0}


def test_what_the_user_set_under_ray_remote_wins_and_is_said(monkeypatch, caplog):
    with caplog.at_level(logging.INFO, logger="hpsweep.sweep.on_ray"):
        chosen = asked(monkeypatch, {"CPU": 8.0, "GPU": 1.0}, 2, remote={"num_gpus": 1, "max_retries": 0})
    assert chosen == {"num_gpus": 1, "max_retries": 0, "max_calls": 1, "num_cpus": 4}
    assert "hydra.launcher.ray.remote.num_gpus=1 wins over hydra.sweeper.jobs_per_gpu=2" in caplog.text


def test_an_object_store_size_with_a_running_cluster_is_refused_by_name():
    launcher = Launcher(init={"address": "auto", "object_store_memory": 10**9})
    with pytest.raises(ConfigError, match="hydra.launcher.ray.init.object_store_memory=1000000000: Ray takes no "
                                          "object store size when connecting"):
        on_ray.connect(launcher)


def test_a_claim_no_job_has_adopted_is_queued_one_adopted_is_running(tmp_path):
    manifest = [{"directory": name, "model": "m", "category": None, "option": "base", "replicate": {}, "rows": [],
                 "setting": []}
                for name in ("waits", "trains")]
    claims.take(tmp_path / "waits", "driver-token")  # launched: Ray or SLURM has not started it
    claims.take(tmp_path / "trains", "driver-token")
    os.environ[claims.TOKEN_ENV] = "driver-token"
    try:
        claims.JobClaim(tmp_path / "trains").heartbeat.stop()  # its job started and adopted the claim
    finally:
        del os.environ[claims.TOKEN_ENV]
    states = {row["directory"]: (row["state"], row["why"]) for row in job_states(tmp_path, manifest)}
    assert states["waits"][0] == "queued" and states["waits"][1].startswith("launched by ")
    assert states["trains"][0] == "running"
