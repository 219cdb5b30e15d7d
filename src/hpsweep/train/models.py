"""timm model creation with the checks that save a wasted job: known name, reachable weights, image size."""

import difflib
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import timm
from omegaconf import DictConfig, OmegaConf
from torch import nn

from hpsweep.core.errors import PretrainedWeightsUnavailable, UnknownModelError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_model_name(name: str) -> None:
    """Raise UnknownModelError naming the closest timm names when timm does not know ``name``."""
    architecture, _, tag = name.partition(".")
    known = timm.is_model(architecture) and (not tag or name in timm.list_pretrained(architecture))
    if known:
        return
    candidates = timm.list_models() + timm.list_pretrained()
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f"closest timm names: {', '.join(close)}" if close else "see timm.list_models() for valid names"
    raise UnknownModelError([f"model.name={name!r} is not a timm model; {hint}"])


def input_config(name: str) -> dict:
    """What the model's pretrained weights expect of their input, as timm records it (``mean``, ``std``,
    ``interpolation``, ``crop_pct``; ImageNet's mean and std, bicubic and timm's 0.875 where it records none)."""
    from timm.data import resolve_data_config

    pretrained_cfg = timm.get_pretrained_cfg(name)
    resolved = resolve_data_config(pretrained_cfg=pretrained_cfg.to_dict() if pretrained_cfg else {})
    if pretrained_cfg is None:
        resolved |= {"mean": IMAGENET_MEAN, "std": IMAGENET_STD, "interpolation": "bicubic"}
    return {key: resolved[key] for key in ("mean", "std", "interpolation", "crop_pct")}


def data_arguments(data_cfg: DictConfig, model_name: str) -> dict:
    """What a data option is given of the model's input: mean and std always; ``interpolation`` and ``crop_pct``
    where the option has the key, the model's where it says ``auto`` (a data set of the user's own, without the
    keys, gets mean and std only; a run recorded before the keys existed, bicubic and 1.0 as it trained)."""
    expected = input_config(model_name)
    return {"mean": tuple(expected["mean"]), "std": tuple(expected["std"]),
            **{key: expected[key] if data_cfg[key] == "auto" else data_cfg[key]
               for key in ("interpolation", "crop_pct") if key in data_cfg}}


def needs_img_size(name: str) -> bool:
    """Whether the architecture fixes its input size at construction (ViT, Swin, ...), so timm needs img_size."""
    pretrained_cfg = timm.get_pretrained_cfg(name)
    return bool(pretrained_cfg and pretrained_cfg.fixed_input_size)


def create_model(model_cfg: DictConfig, num_classes: int, image_size: int) -> nn.Module:
    """Build ``model_cfg.name`` with timm for ``num_classes`` classes at ``image_size`` pixels."""
    check_model_name(model_cfg.name)
    kwargs = OmegaConf.to_container(model_cfg.create_kwargs, resolve=True) if model_cfg.create_kwargs else {}
    if needs_img_size(model_cfg.name):
        kwargs.setdefault("img_size", image_size)
    pretrained = bool(model_cfg.pretrained or model_cfg.checkpoint_path)
    if model_cfg.checkpoint_path:
        path = Path(model_cfg.checkpoint_path).expanduser()
        if not path.is_file():
            raise PretrainedWeightsUnavailable(f"model.checkpoint_path={str(path)!r} does not exist or is not a file")
        kwargs["pretrained_cfg_overlay"] = {"file": str(path)}
    elif pretrained:
        ensure_weights_reachable(model_cfg.name)
    return timm.create_model(model_cfg.name, pretrained=pretrained, num_classes=num_classes, **kwargs)


def weights_problem(model_cfg: DictConfig) -> str | None:
    """Why the pretrained weights ``model_cfg`` asks for cannot be had, naming the model and how to provide them;
    None where they can (a local file, the Hugging Face or torch hub cache, a reachable hub) or none are asked
    for. Downloads nothing: the pre-flight asks it of every model before any job starts."""
    if model_cfg.get("checkpoint_path"):
        path = Path(str(model_cfg.checkpoint_path)).expanduser()
        return None if path.is_file() else (
            f"model {model_cfg.name}: model.checkpoint_path={str(path)!r} does not exist or is not a file; point it "
            "at a local weights file, or set model.checkpoint_path=null")
    if not model_cfg.get("pretrained"):
        return None
    try:
        ensure_weights_reachable(model_cfg.name)
    except PretrainedWeightsUnavailable as error:
        return f"model {model_cfg.name} (model.pretrained=true): {error}"
    return None


def ensure_weights_reachable(name: str, timeout_s: float = 3.0) -> None:
    """Fail within seconds when pretrained weights are neither cached nor downloadable.

    Without this, the hub client retries for about a minute before giving up.
    """
    pretrained_cfg = timm.get_pretrained_cfg(name)
    if pretrained_cfg is None or not (pretrained_cfg.hf_hub_id or pretrained_cfg.url):
        raise PretrainedWeightsUnavailable(
            f"timm records no pretrained weights for {name!r}; set model.pretrained=false "
            "or model.checkpoint_path=<a local weights file>"
        )
    if _weights_cached(pretrained_cfg):
        return
    hosts = []
    if pretrained_cfg.hf_hub_id:
        hosts.append(urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname)
    if pretrained_cfg.url:
        hosts.append(urlparse(pretrained_cfg.url).hostname)
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    if not offline and any(_reachable(host, timeout_s) for host in hosts):
        return
    raise PretrainedWeightsUnavailable(
        f"pretrained weights for {name!r} are not in the local cache and "
        f"{'HF_HUB_OFFLINE is set' if offline else ' / '.join(hosts) + ' cannot be reached'}. "
        "Either warm the cache on a machine with internet (e.g. python -c \"import timm; timm.create_model("
        f"'{name}', pretrained=True)\", with HF_HOME / TORCH_HOME shared with this one), "
        "set model.checkpoint_path=<a local weights file>, or train from scratch with model.pretrained=false."
    )


def _weights_cached(pretrained_cfg) -> bool:
    if pretrained_cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo_id = pretrained_cfg.hf_hub_id.split("@")[0]
        for filename in filter(None, (pretrained_cfg.hf_hub_filename, "model.safetensors", "pytorch_model.bin")):
            if isinstance(try_to_load_from_cache(repo_id, filename), str):
                return True
    if pretrained_cfg.url:
        from torch.hub import get_dir

        if (Path(get_dir()) / "checkpoints" / Path(urlparse(pretrained_cfg.url).path).name).is_file():
            return True
    return False


def _reachable(host: str | None, timeout_s: float) -> bool:
    if not host:
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def image_size_problem(model_cfg: DictConfig, image_size: int) -> str | None:
    """Why the model cannot take ``image_size`` pixels, or None. Builds and runs it on torch's meta
    device: shapes are checked, no memory or compute is spent."""
    import torch

    kwargs = OmegaConf.to_container(model_cfg.create_kwargs, resolve=True) if model_cfg.create_kwargs else {}
    if needs_img_size(model_cfg.name):
        kwargs.setdefault("img_size", image_size)
    try:
        with torch.device("meta"):
            model = timm.create_model(model_cfg.name, pretrained=False, num_classes=2, **kwargs).eval()
            model(torch.empty(1, 3, image_size, image_size))
    except Exception as error:  # whatever the architecture raises is the reason to report
        return f"data.image_size={image_size} does not fit {model_cfg.name}: {type(error).__name__}: {error}"
    return None
