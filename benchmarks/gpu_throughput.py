"""GPU training throughput of the seed models with mixed precision, side by side in one run.

    python benchmarks/gpu_throughput.py                 # on a CUDA machine
    python benchmarks/gpu_throughput.py --device cpu --models test_resnet:64 --steps 3   # a smoke run
    python benchmarks/gpu_throughput.py --jobs-per-gpu 1,2,4    # k trainings at once on one GPU
    python benchmarks/gpu_throughput.py --jobs-per-gpu 1,2 --device cpu --models test_resnet:64 --steps 3

For each model at its image size: images/s of hpsweep's training loop (a real run, digits resized to
that size, bf16 autocast where supported), of a minimal loop on the same DataLoader, and of a minimal
loop on one batch resident on the GPU (the model's ceiling); then timm's published RTX 3090 AMP figure
and the fraction of the GPU's dense bf16 peak that the ceiling reaches (3 x forward FLOPs per image).

With ``--jobs-per-gpu``: for each k, k processes train the same model on the same device at once (what
``hydra.sweeper.jobs_per_gpu=k`` does), each on its own DataLoader over its share of the CPUs; after warm-up they
start together, and the total images/s is every process's images over the span from the first start to the last
end. Printed with the ratio to k=1 and each process's peak memory (what ``peak_memory_mb`` records).
"""

import argparse
import csv
import itertools
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

import timm
import torch
from hydra.core.hydra_config import HydraConfig
from timm.optim import create_optimizer_v2
from torch.utils.flop_counter import FlopCounterMode

from hpsweep.core.compose import compose_job
from hpsweep.sweep.job import run
from hpsweep.train.loop import build_data

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
SEED_MODELS = ["resnet50.tv2_in1k:224", "efficientnet_b3.ra2_in1k:288", "efficientnet_b4.ra2_in1k:320",
               "swin_base_patch4_window12_384.ms_in1k:384"]
TIMM_RTX3090_AMP_TRAIN = {"resnet50": 1218, "efficientnet_b3": 572, "efficientnet_b4": 355,
                          "swin_base_patch4_window12_384": 75}  # img/s, timm's published benchmark tables
BF16_DENSE_PEAK_TFLOPS = {"H100": 989, "H200": 989, "A100": 312, "L40S": 362, "RTX 3090": 71, "RTX 4090": 165}


def train_steps(model, batches, device, dtype, steps: int, start=lambda: None) -> tuple[int, float, float]:
    """Forward, backward and step over ``batches`` (an iterable of (images, labels)): (images, start, end) of
    ``steps`` steps timed after 3 of warm-up (cudnn autotuning, allocator); ``start()`` is called in between."""
    optimizer = create_optimizer_v2(model, opt="adamw", lr=1e-3, weight_decay=1e-3)
    model.train()
    seen, started = 0, None
    for step, (images, labels) in enumerate(batches):
        if step == 3:
            torch.cuda.synchronize() if device.type == "cuda" else None
            start()
            seen, started = 0, time.monotonic()  # one clock for every process of --jobs-per-gpu
        images = images.to(device, non_blocking=True, memory_format=torch.channels_last)
        labels = labels.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += labels.size(0)
        if step == steps + 2:
            break
    loss.item()
    return seen, started, time.monotonic()


def step_rate(model, batches, device, dtype, steps: int) -> float:
    """Images/s of forward, backward and step over ``batches``."""
    seen, started, ended = train_steps(model, batches, device, dtype, steps)
    return seen / (ended - started)


def precision(device: torch.device):
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def job_overrides(name: str, size: str, batch_size: int, device: torch.device, workers: int) -> list[str]:
    return [f"model={name}" if (CONF_DIR / "model" / f"{name}.yaml").exists() else f"model.name={name}",
            "model.pretrained=false", f"data.image_size={size}", f"data.batch_size={batch_size}",
            f"data.num_workers={workers}", "trainer.max_epochs=2", "logger.mode=disabled",
            f"trainer.device={'cuda' if device.type == 'cuda' else 'cpu'}", "trainer.progress_bar=false"]


def concurrent_job(spec: str, args, workers: int, together, report) -> None:
    """One of k trainings at once: its images, start and end after warm-up, and its peak memory."""
    name, size = spec.rsplit(":", 1)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(max(1, workers))
    with tempfile.TemporaryDirectory() as output_dir:
        cfg = compose_job(CONF_DIR, job_overrides(name, size, args.batch_size, device, workers), Path(output_dir))
        data = build_data(cfg)
        kwargs = {"img_size": int(size)} if timm.get_pretrained_cfg(name).fixed_input_size else {}
        model = timm.create_model(name, num_classes=10, **kwargs).to(device, memory_format=torch.channels_last)
        batches = itertools.chain.from_iterable(itertools.repeat(data.train_loader))  # epochs, back to back
        seen, started, ended = train_steps(model, batches, device, precision(device), args.steps, together.wait)
        peak = torch.cuda.max_memory_reserved(device) / 2**20 if device.type == "cuda" else None
        report.put((seen, started, ended, peak))


def concurrent_rates(args) -> None:
    """Total images/s of k trainings at once on one device, for each k of ``--jobs-per-gpu``."""
    device = torch.device(args.device)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}, precision: "
          f"{precision(device) or 'fp32'}, batch {args.batch_size}, {args.steps} timed steps per training")
    print(f"{'model':40} {'px':>4} {'k':>3} {'total img/s':>11} {'x k=1':>6} {'per training':>12} {'peak MB each':>12}")
    spawn = multiprocessing.get_context("spawn")  # CUDA in each process of its own
    for spec in args.models:
        name, size = spec.rsplit(":", 1)
        single = None
        for k in args.jobs_per_gpu:
            together, report = spawn.Barrier(k), spawn.Queue()
            workers = max(1, min(8, (os.cpu_count() or 1) // k))
            processes = [spawn.Process(target=concurrent_job, args=(spec, args, workers, together, report))
                         for _ in range(k)]
            for process in processes:
                process.start()
            measured = [report.get(timeout=1800) for _ in processes]
            for process in processes:
                process.join()
            total = sum(seen for seen, _, _, _ in measured) / (max(end for _, _, end, _ in measured)
                                                             - min(start for _, start, _, _ in measured))
            single = single or total
            peaks = [peak for *_, peak in measured if peak is not None]
            print(f"{name:40} {size:>4} {k:>3} {total:11.0f} {total / single:6.2f} {total / k:12.0f} "
                  f"{(f'{max(peaks):.0f}' if peaks else '-'):>12}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=SEED_MODELS, help="name:image_size ...")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--jobs-per-gpu", type=lambda text: [int(k) for k in text.split(",")], default=None,
                        help="k,k,...: total images/s of k trainings at once on the device, instead")
    args = parser.parse_args()
    if args.jobs_per_gpu:
        return concurrent_rates(args)
    device = torch.device(args.device)
    dtype = precision(device)
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    peak = next((tflops for key, tflops in BF16_DENSE_PEAK_TFLOPS.items() if key in gpu), None)
    print(f"device: {gpu}, precision: {dtype or 'fp32'}, batch {args.batch_size}")
    print(f"{'model':40} {'px':>4} {'hpsweep':>8} {'minimal':>8} {'ratio':>6} {'ceiling':>8} "
          f"{'timm 3090':>9} {'% bf16 peak':>11}")
    for spec in args.models:
        name, size = spec.rsplit(":", 1)
        overrides = job_overrides(name, size, args.batch_size, device, min(8, os.cpu_count() or 1))
        with tempfile.TemporaryDirectory() as output_dir:
            cfg = compose_job(CONF_DIR, overrides, Path(output_dir))
            run(cfg, output_dir)
            with open(Path(output_dir) / "history.csv") as handle:
                ours = float(list(csv.DictReader(handle))[-1]["train_images_per_s"])
        HydraConfig.instance().cfg = None
        data = build_data(cfg)
        kwargs = {"img_size": int(size)} if timm.get_pretrained_cfg(name).fixed_input_size else {}
        model = timm.create_model(name, num_classes=10, **kwargs).to(device, memory_format=torch.channels_last)
        minimal = step_rate(model, iter(data.train_loader), device, dtype, args.steps)
        batch = next(iter(data.train_loader))
        ceiling = step_rate(model, itertools.repeat(batch), device, dtype, args.steps)
        with FlopCounterMode(display=False) as counter:
            model(torch.randn(1, 3, int(size), int(size), device=device))
        peak_share = f"{3 * counter.get_total_flops() * ceiling / (peak * 1e12):11.1%}" if peak else f"{'-':>11}"
        published = TIMM_RTX3090_AMP_TRAIN.get(name.split(".")[0])
        print(f"{name:40} {size:>4} {ours:8.0f} {minimal:8.0f} {ours / minimal:6.2f} {ceiling:8.0f} "
              f"{published or '-':>9} {peak_share}")


if __name__ == "__main__":
    main()
