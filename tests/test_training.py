import math
import warnings

import pytest
import torch
import torch.nn.functional as F

import pyg_tabular.typing as _typing
from pyg_tabular.training import TrainingResult, train


class Scalar(torch.nn.Module):
    def __init__(self, value: float = 0.0) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(value))


def _drifting_problem(lr: float = 0.1):
    r"""Training pulls w from 0 towards 10 while validation prefers w = 3, so
    the validation loss first falls, then rises: the best epoch is in the
    middle and differs from the last one."""
    model = Scalar()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def loss_fn(batch):
        return (model.w - 10.0) ** 2

    def validate():
        w = float(model.w.detach())
        return {"val_loss": (w - 3.0) ** 2, "score": -((w - 3.0) ** 2)}

    return model, optimizer, loss_fn, validate


def _one_batch(epoch):
    return [None]


def _run_drifting(validate=None, **kwargs):
    r"""Trains the drifting problem for one batch per epoch; returns the
    result, the model and the problem's own validation function."""
    model, optimizer, loss_fn, own_validate = _drifting_problem()
    chosen = own_validate if validate is None else validate
    result = train(model, _one_batch, loss_fn, optimizer=optimizer, validate=chosen, **kwargs)
    return result, model, own_validate


@pytest.mark.parametrize("patience", [None, 3])
def test_restored_weights_reproduce_best_validation_loss(patience):
    result, model, validate = _run_drifting(epochs=15, patience=patience)
    losses = [record["val_loss"] for record in result.history]
    best = min(losses)
    assert losses[-1] > best  # the last epoch is not the best, so restoring matters
    assert result.best_epoch == losses.index(best) + 1
    assert result.best_score == best
    model.eval()
    assert validate()["val_loss"] == pytest.approx(best, rel=0, abs=1e-12)
    assert result.history[result.best_epoch - 1]["epoch"] == result.best_epoch
    expected = "max_epochs" if patience is None else "early_stopping"
    assert result.stop_reason == expected
    if patience is not None:
        assert len(result.history) == result.best_epoch + patience


def test_mode_max_picks_the_same_epoch_as_mode_min():
    results = []
    for monitor, mode in [("val_loss", "min"), ("score", "max")]:
        result, _, validate = _run_drifting(epochs=12, monitor=monitor, mode=mode, patience=2)
        results.append(result)
        assert validate()[monitor] == results[-1].best_score
    assert results[0].best_epoch == results[1].best_epoch
    assert results[1].best_score == -results[0].best_score


def test_mode_max_keeps_the_highest_value():
    result, _, _ = _run_drifting(epochs=12, monitor="val_loss", mode="max")
    # The validation loss is highest at the end (w runs past 3 towards 10).
    assert result.best_epoch == 12
    assert result.best_score == max(r["val_loss"] for r in result.history)


def test_patience_counts_epochs_without_improvement():
    values = iter([5.0, 4.0, 3.0, 3.5, 3.6, 3.7, 2.0])
    result, _, _ = _run_drifting(validate=lambda: {"val_loss": next(values)}, epochs=7, patience=3)
    assert [r["val_loss"] for r in result.history] == [5.0, 4.0, 3.0, 3.5, 3.6, 3.7]
    assert result.best_epoch == 3 and result.stop_reason == "early_stopping"


def test_history_records_and_callback():
    model, optimizer, loss_fn, validate = _drifting_problem()
    seen = []
    result = train(
        model,
        lambda epoch: [None, None],
        loss_fn,
        optimizer=optimizer,
        epochs=3,
        validate=validate,
        on_epoch_end=seen.append,
    )
    assert isinstance(result, TrainingResult)
    assert seen == result.history
    assert [r["epoch"] for r in result.history] == [1.0, 2.0, 3.0]
    for record in result.history:
        assert set(record) == {"epoch", "train_loss", "seconds", "elapsed", "val_loss", "score"}
        assert record["seconds"] >= 0.0
    # The anytime clock: seconds since the start, each epoch's own time added.
    elapsed = [r["elapsed"] for r in result.history]
    assert elapsed == sorted(elapsed) and elapsed[-1] <= result.seconds
    assert elapsed[-1] >= sum(r["seconds"] for r in result.history) * 0.99
    # The train loss is the mean of the epoch's batch losses: w moves between them.
    first = ((0.0 - 10.0) ** 2 + (2.0 - 10.0) ** 2) / 2
    assert result.history[0]["train_loss"] == pytest.approx(first)
    assert result.seconds >= sum(r["seconds"] for r in result.history) * 0.99


def test_without_validate_the_last_epoch_is_kept():
    model, optimizer, loss_fn, _ = _drifting_problem()
    result = train(model, _one_batch, loss_fn, optimizer=optimizer, epochs=4)
    assert result.best_epoch == 4 and math.isnan(result.best_score)
    assert model.w.item() == pytest.approx(10.0 * (1 - 0.8**4))
    assert not model.training


def test_batches_get_the_epoch_and_model_trains_in_batches():
    model, optimizer, loss_fn, validate = _drifting_problem()
    asked, modes = [], []

    def batches(epoch):
        asked.append(epoch)
        return [epoch]

    def loss(batch):
        modes.append(model.training)
        return loss_fn(batch)

    def check():
        modes.append(model.training)
        assert not torch.is_grad_enabled()
        return validate()

    train(model, batches, loss, optimizer=optimizer, epochs=3, validate=check)
    assert asked == [0, 1, 2]
    assert modes == [True, False] * 3


def test_time_budget_stops_after_the_crossing_epoch():
    result, _, _ = _run_drifting(epochs=50, time_budget=1e-9)
    assert len(result.history) == 1 and result.stop_reason == "time_budget"


def test_time_budget_stops_within_an_epoch_and_validates_it():
    model, optimizer, loss_fn, validate = _drifting_problem()
    steps = []

    def counted(batch):
        steps.append(batch)
        return loss_fn(batch)

    result = train(
        model,
        lambda epoch: [0, 1, 2, 3, 4],
        counted,
        optimizer=optimizer,
        epochs=3,
        validate=validate,
        time_budget=1e-9,
    )
    # The first step crosses the budget: the rest of that epoch is skipped,
    # and the one step taken is validated and kept.
    assert steps == [0] and len(result.history) == 1
    assert result.stop_reason == "time_budget" and result.best_epoch == 1
    assert "val_loss" in result.history[0]


class _Clock:
    r"""Stands in for the loop's wall clock: every step takes :obj:`step`
    seconds, and nothing else takes any time."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 1000.0, step

    def __call__(self) -> float:
        return self.now


def _timed_steps(monkeypatch, *, steps_per_epoch: int, step: float, **kwargs):
    import pyg_tabular.training as training

    clock = _Clock(step)
    monkeypatch.setattr(training.time, "perf_counter", clock)
    model, optimizer, loss_fn, validate = _drifting_problem(lr=0.01)
    taken = []

    def timed(batch):
        clock.now += clock.step
        taken.append(batch)
        return loss_fn(batch)

    def batches(epoch):
        return [(epoch, i) for i in range(steps_per_epoch)]

    result = train(model, batches, timed, optimizer=optimizer, validate=validate, **kwargs)
    return result, taken


@pytest.mark.parametrize(
    "budget, epochs_run, last_steps", [(10.0, 4, 1), (9.0, 3, 3), (11.5, 4, 3)]
)
def test_time_budget_counts_the_whole_run_across_epochs(
    monkeypatch, budget, epochs_run, last_steps
):
    # Three one-second steps per epoch: each epoch takes 3 s, well inside the
    # budget, so only the total time can stop the run, at the first step that
    # brings it to the budget (or at the end of that epoch's validation).
    result, taken = _timed_steps(
        monkeypatch, steps_per_epoch=3, step=1.0, epochs=50, time_budget=budget
    )
    assert result.stop_reason == "time_budget"
    assert len(result.history) == epochs_run
    assert [epoch for epoch, _ in taken].count(epochs_run - 1) == last_steps
    assert len(taken) == 3 * (epochs_run - 1) + last_steps
    assert result.history[-1]["elapsed"] == pytest.approx(len(taken) * 1.0)
    assert result.history[-1]["elapsed"] >= budget


def test_a_budget_no_run_reaches_leaves_the_epoch_limit_in_charge(monkeypatch):
    result, taken = _timed_steps(
        monkeypatch, steps_per_epoch=3, step=1.0, epochs=5, time_budget=15.5
    )
    assert result.stop_reason == "max_epochs" and len(taken) == 15


def _poisoned_at(epoch_to_poison: int):
    r"""A problem whose loss turns NaN (and poisons the weight) at one epoch;
    with this step size the best validation loss is at epoch 3."""
    model, optimizer, loss_fn, validate = _drifting_problem(lr=0.05)
    weights = {}

    def batches(epoch):
        return [epoch]

    def loss(epoch):
        if epoch + 1 >= epoch_to_poison:
            return model.w * math.nan
        return loss_fn(epoch)

    def check():
        weights[len(weights) + 1] = model.w.item()
        return validate()

    return model, optimizer, batches, loss, check, weights


def test_divergence_restores_best_finite_weights_and_warns():
    model, optimizer, batches, loss, check, weights = _poisoned_at(4)
    with pytest.warns(RuntimeWarning, match="diverged at epoch 4"):
        result = train(model, batches, loss, optimizer=optimizer, epochs=10, validate=check)
    assert result.stop_reason == "diverged"
    assert len(result.history) == 4 and math.isnan(result.history[-1]["train_loss"])
    assert result.best_epoch == 3
    assert model.w.item() == weights[3]
    assert math.isfinite(model.w.item())


def test_divergence_without_validate_restores_last_finite_epoch():
    model, optimizer, batches, loss, _, _ = _poisoned_at(3)
    with pytest.warns(RuntimeWarning, match="restored the weights of epoch 2"):
        result = train(model, batches, loss, optimizer=optimizer, epochs=10)
    assert result.best_epoch == 2
    assert model.w.item() == pytest.approx(10.0 * (1 - 0.9**2))


def test_huge_learning_rate_raises_when_no_epoch_is_finite():
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    with pytest.raises(FloatingPointError, match="epoch 1"):
        train(
            model,
            lambda epoch: list(zip(x.split(4), y.split(4))),
            lambda batch: F.mse_loss(model(batch[0]), batch[1]),
            optimizer=torch.optim.SGD(model.parameters(), lr=1e6),
            epochs=5,
        )
    for key, value in model.state_dict().items():
        assert torch.equal(value, initial[key])


def test_keyboard_interrupt_restores_best_so_far_and_reraises():
    model, optimizer, loss_fn, validate = _drifting_problem()
    weights = {}

    def loss(epoch):
        if epoch == 6:
            raise KeyboardInterrupt
        return loss_fn(epoch)

    def check():
        weights[len(weights) + 1] = model.w.item()
        return validate()

    with pytest.raises(KeyboardInterrupt) as info:
        train(
            model,
            lambda epoch: [epoch],
            loss,
            optimizer=optimizer,
            epochs=20,
            validate=check,
        )
    result = info.value.training_result
    assert result.stop_reason == "interrupted"
    assert len(result.history) == 6
    losses = [r["val_loss"] for r in result.history]
    assert result.best_epoch == losses.index(min(losses)) + 1 < 6
    assert model.w.item() == weights[result.best_epoch]


def test_keyboard_interrupt_in_first_epoch_restores_initial_weights():
    model, optimizer, loss_fn, _ = _drifting_problem()
    calls = []

    def loss(batch):
        calls.append(batch)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return loss_fn(batch)

    with pytest.raises(KeyboardInterrupt) as info:
        train(model, lambda epoch: [0, 1, 2], loss, optimizer=optimizer, epochs=3)
    assert info.value.training_result.best_epoch == 0
    assert model.w.item() == 0.0


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_progress_with_and_without_tqdm(monkeypatch, capsys, with_tqdm):
    if with_tqdm and not _typing.WITH_TQDM:
        pytest.skip("tqdm is not installed")
    monkeypatch.setattr(_typing, "WITH_TQDM", with_tqdm)
    model, optimizer, loss_fn, validate = _drifting_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = train(
            model,
            _one_batch,
            loss_fn,
            optimizer=optimizer,
            epochs=2,
            progress=True,
            progress_desc="drifting-w",
        )
    assert len(result.history) == 2
    assert ("drifting-w" in capsys.readouterr().err) == with_tqdm


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"epochs": 0}, ValueError, r"epochs must be a positive int \(got 0\)"),
        ({"mode": "avg"}, ValueError, r"mode must be 'min' or 'max' \(got 'avg'\)"),
        ({"patience": 0}, ValueError, r"patience must be a positive int \(got 0\)"),
        ({"time_budget": -1.0}, ValueError, r"time_budget must be .*\(got -1.0\)"),
        ({"time_budget": math.inf}, ValueError, r"time_budget must be .*\(got inf\)"),
        ({"monitor": 3}, TypeError, "monitor must be a str"),
        ({"monitor": "auc"}, ValueError, r"monitor='auc' is not among .*'val_loss'"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    model, optimizer, loss_fn, validate = _drifting_problem()
    arguments = {"optimizer": optimizer, "epochs": 2, "validate": validate, **kwargs}
    with pytest.raises(error, match=match):
        train(model, _one_batch, loss_fn, **arguments)


def test_empty_epoch_is_refused():
    model, optimizer, loss_fn, _ = _drifting_problem()
    with pytest.raises(ValueError, match="no batches"):
        train(model, lambda epoch: [], loss_fn, optimizer=optimizer, epochs=2)
