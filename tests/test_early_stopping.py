import pytest
import torch

from hpsweep.train.early_stopping import EarlyStopping


def follow(sequence, **kwargs):
    """Feed a metric sequence epoch by epoch, as the loop does; the model's weight is the epoch number."""
    model = torch.nn.Linear(1, 1, bias=False)
    stopper = EarlyStopping(**{"monitor": "val_f1", "mode": "max", "patience": 2, **kwargs})
    for epoch, value in enumerate(sequence, start=1):
        model.weight.data.fill_(epoch)
        stopper.update(value, model)
        if stopper.should_stop:
            break
    stopper.restore_best(model)
    return stopper, epoch, model.weight.item()


@pytest.mark.parametrize(("sequence", "kwargs", "stop_epoch", "best_epoch"), [
    ([0.1, 0.5, 0.4, 0.3, 0.9], {}, 4, 2),                        # two epochs without improvement
    ([0.1, 0.5, 0.4, 0.6, 0.5, 0.5], {}, 6, 4),                   # an improvement resets the count
    ([0.1, 0.5, 0.505, 0.509, 0.9], {"min_delta": 0.01}, 4, 2),   # changes under min_delta do not count
    ([0.9, 0.5, 0.6, 0.7], {"mode": "min", "patience": 1}, 3, 2),  # lower is better for losses
    ([0.1, 0.2, 0.3], {"patience": 5}, 3, 3),                      # never stops: runs out of epochs
], ids=["plateau", "reset", "min_delta", "min_mode", "no_stop"])
def test_stops_at_the_right_epoch_and_restores_the_best_weights(sequence, kwargs, stop_epoch, best_epoch):
    stopper, stopped_at, restored_weight = follow(sequence, **kwargs)
    assert stopped_at == stop_epoch
    assert stopper.best_epoch == best_epoch
    assert restored_weight == best_epoch, "the best epoch's weights are restored, not the last"


def test_equal_value_is_not_an_improvement():
    stopper, stopped_at, _ = follow([0.5, 0.5, 0.5])
    assert (stopper.best_epoch, stopped_at) == (1, 3)
