import pytest
import torch
import torch.nn.functional as F

from hpsweep.train.losses import FocalLoss


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    return torch.randn(16, 5, generator=generator), torch.randint(0, 5, (16,), generator=generator)


def test_gamma_zero_alpha_one_is_cross_entropy(batch):
    logits, target = batch
    assert torch.allclose(FocalLoss(alpha=1.0, gamma=0.0)(logits, target), F.cross_entropy(logits, target))


def test_alpha_scales_and_gamma_down_weights_easy_examples(batch):
    logits, target = batch
    ce = F.cross_entropy(logits, target, reduction="none")
    focal = FocalLoss(alpha=2.0, gamma=1.0, reduction="none")(logits, target)
    p_true = torch.exp(-ce)
    assert torch.allclose(focal, 2.0 * (1 - p_true) * ce)


def test_per_class_alpha_weights_each_target(batch):
    logits, target = batch
    weights = [1.0, 2.0, 3.0, 4.0, 5.0]
    focal = FocalLoss(alpha=weights, gamma=0.0, reduction="none")(logits, target)
    expected = torch.tensor(weights)[target] * F.cross_entropy(logits, target, reduction="none")
    assert torch.allclose(focal, expected)


def test_negative_gamma_is_rejected():
    with pytest.raises(ValueError, match="gamma=-1"):
        FocalLoss(gamma=-1)
