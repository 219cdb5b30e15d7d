"""Losses torch and timm do not ship: a multi-class focal loss."""

import torch
import torch.nn.functional as F
from torch import nn


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al., 2017): ``-alpha_t * (1 - p_t) ** gamma * log(p_t)``.

    ``alpha`` is one scale for every class or a sequence with one weight per class, multiplied by
    the optional class ``weight`` (as in ``torch.nn.CrossEntropyLoss``); with ``gamma=0`` and
    ``alpha=1`` it equals cross entropy.
    """

    def __init__(self, alpha: float | list[float] = 1.0, gamma: float = 2.0, reduction: str = "mean",
                 weight: torch.Tensor | None = None):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"FocalLoss reduction={reduction!r}: expected mean, sum or none")
        if gamma < 0:
            raise ValueError(f"FocalLoss gamma={gamma}: must be >= 0")
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = reduction
        per_class = alpha if isinstance(alpha, (int, float)) else list(alpha)  # a ListConfig from Hydra too
        class_alpha = torch.tensor(per_class, dtype=torch.float32).reshape(-1)
        if weight is not None:  # class weights (data.balance=loss) scale alpha, as they scale cross entropy
            class_alpha = class_alpha * torch.as_tensor(weight, dtype=torch.float32)
        self.register_buffer("class_alpha", class_alpha)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_p = F.log_softmax(logits.float(), dim=1).gather(1, target[:, None]).squeeze(1)
        alpha = self.class_alpha[target] if self.class_alpha.numel() > 1 else self.class_alpha
        loss = -alpha * (1.0 - log_p.exp()).pow(self.gamma) * log_p
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss
