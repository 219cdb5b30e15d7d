"""The validation split: the one the data gives, used as it is, or one drawn where it gives none (a stratified
fraction, or one of k stratified folds) by ``data.split_seed``, never by ``seed``: seed replicates then validate on
the same images. ``validation_record`` says in each result which images those were.

No torch here: the pre-flight checks the folds before any job starts.
"""

import hashlib
from collections import Counter

VAL_FRACTION = 0.15  # where data.val_fraction is null and the data gives no validation split


def validation_record(val_ids: list[str], given: bool, split_seed: int | None) -> dict:
    """Which images a training validates on: ``images`` is a short digest of their sorted ids, the same for
    every replicate that validates on the same images; ``split`` says whether the data gave them or
    ``split_seed`` drew them."""
    digest = hashlib.sha256("\n".join(sorted(val_ids)).encode()).hexdigest()[:16]
    return {"split": "given" if given else "drawn", "split_seed": None if given else split_seed,
            "images": digest, "count": len(val_ids)}


def split_indices(labels: list[int], val_fraction: float | None, n_folds: int | None, fold: int | None,
                  split_seed: int) -> tuple[list[int], list[int]]:
    """Training and validation indices: fold ``fold`` of ``n_folds`` stratified folds, else a stratified
    ``val_fraction`` (null: 0.15); both drawn by ``split_seed``."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    everything = list(range(len(labels)))
    if n_folds:
        folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=split_seed).split(everything, labels)
        train_idx, val_idx = list(folds)[fold]
        return train_idx.tolist(), val_idx.tolist()
    train_idx, val_idx = train_test_split(everything, test_size=VAL_FRACTION if val_fraction is None else val_fraction,
                                          stratify=labels, random_state=split_seed)
    return list(train_idx), list(val_idx)


def given_split_problems(given_by: str | None, data_cfg) -> list[str]:
    """A drawn split's keys asked for where the data gives its validation split: they would be ignored."""
    if given_by is None:
        return []
    asked = [f"data.{key}={data_cfg.get(key)!r}" for key in ("val_fraction", "n_folds", "fold")
             if data_cfg.get(key) is not None]
    verb = "applies" if len(asked) == 1 else "apply"
    return [f"the data gives its validation split ({given_by}), used as it is: {', '.join(asked)} {verb} only "
            "where the data gives none; leave it null (the fold category too)"] if asked else []


def split_problems(labels: list[int], class_names: list[str], n_folds, fold) -> list[str]:
    """Why the folds cannot be made, naming the key and what is allowed."""
    if n_folds is None:
        return [] if fold is None else [f"data.fold={fold!r} needs data.n_folds (the number of folds)"]
    if not isinstance(n_folds, int) or n_folds < 2:
        return [f"data.n_folds={n_folds!r}: expected an integer >= 2, or null for a validation fraction"]
    problems = []
    if not isinstance(fold, int) or not 0 <= fold < n_folds:
        problems.append(f"data.fold={fold!r}: expected an integer from 0 to {n_folds - 1} (data.n_folds={n_folds})")
    counts = Counter(labels)
    problems += [f"class {class_names[label]!r} has {counts[label]} images, fewer than data.n_folds={n_folds}"
                 for label in range(len(class_names)) if counts[label] < n_folds]
    return problems
