"""The driver composes each distinct set of config files once and applies value overrides to it: every job's
config, group choices, subdir, fingerprint and error must be what Hydra's own composition of the job gives."""

from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from hpsweep.core.fingerprints import fingerprint, task_config
from hpsweep.sweep.composer import Composer, composition_error

ROOT = Path(__file__).resolve().parents[1]
APP = {  # another app's configs: a package rename, a list, a nested group, an interpolation, a typed value
    "config.yaml": "defaults:\n  - db: mysql\n  - db@backup: sqlite\n  - server/site: small\n  - _self_\n"
                   "name: app\nports: [80, 443]\nlimits: {cpu: 2, memory: 4.5}\nlabel: ${name}-${db.driver}\n"
                   "hydra:\n  sweep:\n    subdir: ${hydra.job.override_dirname}\n",
    "db/mysql.yaml": "driver: mysql\nuser: root\n",
    "db/sqlite.yaml": "driver: sqlite\nuser: null\n",
    "server/site/small.yaml": "workers: 1\n",
    "server/site/large.yaml": "workers: 8\n",
}
CASES = {
    "conf": (ROOT / "conf", "config", [
        [], ["optimizer=SGD"], ["optimizer=SGD", "optimizer.lr=0.5"], ["optimizer.lr=0.5", "optimizer=SGD"],
        ["seed=3"], ["fold=fold2", "seed=4"], ["model=test_resnet", "data.image_size=32", "trainer.max_epochs=1"],
        ["~early_stopping"], ["++trainer.extra=1"], ["loss_function=LabelSmoothing", "seed=2"],
        ["hydra.job.chdir=true", "seed=5"],
    ]),
    "foreign": (ROOT / "tests/foreign_app/conf", "config", [
        [], ["salt=2"], ["recipe=spicy", "salt=3"], ["work=long", "+extra=[1,2]"], ["base_amount=5"],
    ]),
    "app": (None, "config", [
        [], ["name=other"], ["db=sqlite", "name=x"], ["db@backup=mysql", "limits.cpu=4"], ["server/site=large"],
        ["ports=[1,2]", "+new.deep=1"], ["~limits", "label=plain"], ["limits={cpu: 1}"], ["name=null"],
    ]),
}


def _loader(config_dir: Path, config_name: str, hydra_overrides: list[str]):
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(config_name, hydra_overrides, RunMode.MULTIRUN)
    return loader, master


@pytest.fixture(params=sorted(CASES))
def app(request, tmp_path):
    config_dir, config_name, jobs = CASES[request.param]
    if config_dir is None:
        for name, text in APP.items():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
        config_dir = tmp_path
    GlobalHydra.instance().clear()
    loader, master = _loader(config_dir, config_name, ["hydra/job_logging=disabled"])
    yield loader, master, jobs
    GlobalHydra.instance().clear()


def _hydras(loader, master, overrides: list[str], number: int):
    cfg = loader.load_sweep_config(master, overrides)
    with open_dict(cfg):
        cfg.hydra.job.num = number
    return cfg, str(cfg.hydra.sweep.subdir)


def test_every_job_is_what_hydra_composes(app):
    loader, master, jobs = app
    composer = Composer(loader, master)
    for number, overrides in enumerate(jobs):
        expected, subdir = _hydras(loader, master, overrides, number)
        composed = composer.compose(overrides)
        assert OmegaConf.to_container(composed.task) == OmegaConf.to_container(task_config(expected)), overrides
        assert composed.choices == dict(expected.hydra.runtime.choices)
        assert composed.subdir(number) == subdir, overrides
        assert fingerprint(composed.task) == fingerprint(expected), overrides
        assert composed.task_lines == list(expected.hydra.overrides.task)
        assert composed.dirname == expected.hydra.job.override_dirname
    # the jobs' distinct choices of files, each composed once; the others are values on one of them
    assert len(composer.bases) < len(jobs)


@pytest.mark.parametrize("overrides", [["trainer.max_epochs.x=1"], ["nosuchkey=1"], ["+seed=1"], ["~nosuchkey"],
                                       ["optimizer=NoSuch"], ["optimizer.lr=[1"],
                                       ["fold=2"]])
def test_a_job_hydra_refuses_is_refused_with_hydras_reason(overrides):
    GlobalHydra.instance().clear()
    loader, master = _loader(ROOT / "conf", "config", ["hydra/job_logging=disabled"])
    try:
        with pytest.raises((HydraException, ValueError)) as hydras:  # ValueError: a group given a number
            loader.load_sweep_config(master, overrides)
        with pytest.raises(HydraException) as ours:
            Composer(loader, master).compose(overrides)
        assert composition_error(ours.value) == composition_error(hydras.value)
        assert composition_error(ours.value)  # never an empty reason
    finally:
        GlobalHydra.instance().clear()


@pytest.mark.parametrize("subdir", ["${hydra.job.num}", "${hydra.job.override_dirname}", "fixed",
                                    "${hydra.job.name}-${hydra.job.num}", "run_${x}_${hydra.job.num}",
                                    "${ hydra.job.num }", "${hydra.job.override_dirname}/${now:%Y}"])
def test_each_jobs_subdir_is_the_one_its_own_config_names(tmp_path, subdir):
    (tmp_path / "config.yaml").write_text(f"x: 1\nhydra:\n  sweep:\n    subdir: '{subdir}'\n")
    GlobalHydra.instance().clear()
    loader, master = _loader(tmp_path, "config", [])
    try:
        composer = Composer(loader, master)
        for number, overrides in enumerate([["x=5"], ["x=6", "+y=a"], ["hydra.job.name=other", "x=7"]]):
            assert composer.compose(overrides).subdir(number) == _hydras(loader, master, overrides, number)[1]
    finally:
        GlobalHydra.instance().clear()
