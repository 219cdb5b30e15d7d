"""hpsweep: systematic hyperparameter category sweeps for timm image classifiers, on Hydra."""

__version__ = "0.2.0"  # as pyproject.toml's version (CHANGELOG.md)
