"""hpsweep: systematic hyperparameter category sweeps for timm image classifiers, on Hydra."""

__version__ = "0.1.0"
