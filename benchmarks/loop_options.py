"""What each training option is worth: hpsweep's training throughput with and without it, in one run.

    python benchmarks/loop_options.py [--model test_resnet] [--image-size 64] [--batch-size 32]

Each configuration trains the same model on the same data, alternating over repeats; the table gives
each one's best and median epoch (the first epoch, which includes any compilation, is not counted) and
its ratio to the baseline. torch.compile's one-time cost is printed apart: it is paid once per job.
"""

import argparse
import statistics

import torch
from loop_overhead import hpsweep_loop

OPTIONS = {
    "baseline (NCHW, eager)": ["trainer.channels_last=false", "trainer.compile=false"],
    "channels_last": ["trainer.channels_last=true", "trainer.compile=false"],
    "compile": ["trainer.channels_last=false", "trainer.compile=true"],
    "channels_last + compile": ["trainer.channels_last=true", "trainer.compile=true"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="test_resnet")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    base = [f"model={args.model}", f"data.image_size={args.image_size}", f"data.batch_size={args.batch_size}",
            f"trainer.max_epochs={args.epochs}", "logger.mode=disabled", "early_stopping.patience=1000"]
    samples = {name: [] for name in OPTIONS}
    first_epochs = {name: [] for name in OPTIONS}
    for repeat in range(args.repeats):
        names = list(OPTIONS) if repeat % 2 == 0 else list(reversed(OPTIONS))
        for name in names:
            rates = hpsweep_loop(base + OPTIONS[name], args.epochs)
            first_epochs[name].append(rates[0])
            samples[name] += rates[1:]
    baseline = samples["baseline (NCHW, eager)"]
    print(f"{args.model} @ {args.image_size} px, batch {args.batch_size}, {torch.get_num_threads()} threads")
    print(f"{'option':26} {'best img/s':>10} {'median':>8} {'x baseline (best)':>18} {'first epoch img/s':>18}")
    for name, rates in samples.items():
        print(f"{name:26} {max(rates):10.0f} {statistics.median(rates):8.0f} {max(rates) / max(baseline):18.2f} "
              f"{statistics.median(first_epochs[name]):18.0f}")


if __name__ == "__main__":
    main()
