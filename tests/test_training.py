import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import pyg_tabular.typing as _typing
from pyg_tabular.training import (
    LR_SCHEDULES,
    TASK_LOSSES,
    EnsembleMean,
    TrainingResult,
    ensemble_mean,
    exponential_moving_average,
    make_lr_scheduler,
    member_loss,
    train,
)


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


# --------------------------------------------------------------------------- #
# Weight averaging and learning-rate schedules
# --------------------------------------------------------------------------- #


def test_averaged_weights_are_what_validation_sees_and_what_is_restored():
    model, optimizer, loss_fn, validate = _drifting_problem()
    decay = 0.7
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay))
    trained, validated = [], []

    def loss(batch):
        trained.append(model.w.item())
        return loss_fn(batch)

    def check():
        validated.append(model.w.item())
        return validate()

    result = train(
        model,
        lambda epoch: [0, 1],  # two steps per epoch: the average is per step
        loss,
        optimizer=optimizer,
        epochs=6,
        validate=check,
        averaged=averaged,
    )
    # Training follows its own weights, untouched by the average: SGD on
    # (w - 10)^2 at lr 0.1 gives w_t = 10 (1 - 0.8^t).
    assert trained == pytest.approx([10.0 * (1 - 0.8**t) for t in range(12)])
    # The exponential moving average by hand: the first update copies.
    average, by_hand = None, []
    for t in range(1, 13):
        w = 10.0 * (1 - 0.8**t)
        average = w if average is None else decay * average + (1 - decay) * w
        if t % 2 == 0:
            by_hand.append(average)
    assert validated == pytest.approx(by_hand)
    losses = [(e - 3.0) ** 2 for e in by_hand]
    assert result.best_epoch == losses.index(min(losses)) + 1 < 6
    assert model.w.item() == pytest.approx(by_hand[result.best_epoch - 1])


def test_without_validate_the_last_average_is_kept():
    model, optimizer, loss_fn, _ = _drifting_problem()
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    train(model, _one_batch, loss_fn, optimizer=optimizer, epochs=3, averaged=averaged)
    w = [10.0 * (1 - 0.8**t) for t in (1, 2, 3)]
    assert model.w.item() == pytest.approx(0.5 * (0.5 * w[0] + 0.5 * w[1]) + 0.5 * w[2])


def test_exponential_moving_average_warms_its_decay_up():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    average = exponential_moving_average(model, 0.95)
    weights, by_hand = [], None
    for t in range(1, 60):
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(torch.randn_like(parameter))
        weights.append([p.detach().clone() for p in model.parameters()])
        average.update_parameters(model)
        beta = min(0.95, t / (t + 9))
        current = weights[-1]
        by_hand = (
            current
            if by_hand is None
            else [beta * a + (1 - beta) * w for a, w in zip(by_hand, current)]
        )
    for averaged, expected in zip(average.module.parameters(), by_hand):
        torch.testing.assert_close(averaged, expected)
    with pytest.raises(ValueError, match=r"decay must be in \(0, 1\)"):
        exponential_moving_average(model, 0.0)
    with pytest.raises(ValueError, match=r"decay must be a float in \[0, 1\)"):
        exponential_moving_average(model, 1.0)


def test_averaged_must_be_an_averaged_model():
    model, optimizer, loss_fn, _ = _drifting_problem()
    with pytest.raises(TypeError, match="averaged must be a torch.optim.swa_utils.AveragedModel"):
        train(model, _one_batch, loss_fn, optimizer=optimizer, epochs=1, averaged=model)


def _rates(schedule, total_steps, warmup, lr=2.0):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = make_lr_scheduler(optimizer, schedule, total_steps=total_steps, warmup=warmup)
    rates = []
    for _ in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("total_steps, warmup", [(20, 0.25), (7, 0.0), (30, 0.05), (3, 0.4)])
def test_cosine_schedule_is_linear_warmup_then_cosine_decay(total_steps, warmup):
    lr, w = 2.0, round(warmup * total_steps)
    w = w if w >= 2 else 0
    expected = [
        lr * (t + 1) / w
        if t < w
        else lr / 2 * (1 + math.cos(math.pi * (t - w) / (total_steps - w)))
        for t in range(total_steps)
    ]
    assert _rates("cosine", total_steps, warmup, lr) == pytest.approx(expected)


def test_one_cycle_schedule_is_pytorchs_one_cycle():
    rates = _rates("one-cycle", 40, 0.25, lr=2.0)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    reference = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=2.0, total_steps=40, pct_start=0.25
    )
    expected = []
    for _ in range(40):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        reference.step()
    assert rates == pytest.approx(expected)
    assert max(rates) == pytest.approx(2.0) and rates.index(max(rates)) == 9
    assert rates[0] == pytest.approx(2.0 / 25) and rates[-1] < 1e-3


@pytest.mark.parametrize("total_steps", [1, 2, 3])
def test_one_cycle_runs_on_a_few_steps(total_steps):
    rates = _rates("one-cycle", total_steps, 0.0)
    assert len(rates) == total_steps and all(0.0 < r <= 2.0 for r in rates)


def test_train_steps_the_schedule_after_every_optimizer_step():
    model, optimizer, loss_fn, validate = _drifting_problem()
    scheduler = make_lr_scheduler(optimizer, "cosine", total_steps=9, warmup=0.0)
    seen = []

    def loss(batch):
        seen.append(optimizer.param_groups[0]["lr"])
        return loss_fn(batch)

    train(
        model,
        lambda epoch: [0, 1, 2],
        loss,
        optimizer=optimizer,
        epochs=3,
        validate=validate,
        scheduler=scheduler,
    )
    assert seen == pytest.approx([0.05 * (1 + math.cos(math.pi * t / 9)) for t in range(9)])


def test_schedules_are_a_registry():
    assert set(LR_SCHEDULES) >= {"cosine", "one-cycle"}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=r"schedule must be one of \['cosine', 'one-cycle'"):
        make_lr_scheduler(optimizer, "step", total_steps=5)
    with pytest.raises(ValueError, match=r"total_steps must be a positive int \(got 0\)"):
        make_lr_scheduler(optimizer, "cosine", total_steps=0)
    with pytest.raises(ValueError, match=r"warmup must be a float in \[0, 1\) \(got 1.0\)"):
        make_lr_scheduler(optimizer, "cosine", total_steps=5, warmup=1.0)


# --------------------------------------------------------------------------- #
# Task losses and ensembles
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
def test_binary_label_smoothing_is_two_class_cross_entropy_smoothing(smoothing):
    torch.manual_seed(0)
    logit, y = torch.randn(16, 1), torch.randint(0, 2, (16,))
    loss = member_loss(logit, y, "binary", label_smoothing=smoothing)
    # One logit z is the two-class softmax of [0, z].
    two_class = torch.cat([torch.zeros_like(logit), logit], dim=1)
    torch.testing.assert_close(loss, F.cross_entropy(two_class, y, label_smoothing=smoothing))
    # And by the formula: target y (1 - eps) + eps / 2.
    target = y.float() * (1 - smoothing) + smoothing / 2
    by_hand = -(target * F.logsigmoid(logit[:, 0]) + (1 - target) * F.logsigmoid(-logit[:, 0]))
    torch.testing.assert_close(loss, by_hand.mean())


def test_multiclass_label_smoothing_equals_the_formula():
    torch.manual_seed(0)
    out, y, eps = torch.randn(10, 4), torch.randint(0, 4, (10,)), 0.2
    target = F.one_hot(y, 4).float() * (1 - eps) + eps / 4
    by_hand = -(target * out.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(member_loss(out, y, "multiclass", label_smoothing=eps), by_hand)
    assert not torch.allclose(member_loss(out, y, "multiclass"), by_hand)


def test_label_smoothing_is_refused_for_regression_and_out_of_range():
    out, y = torch.zeros(3, 1), torch.zeros(3)
    with pytest.raises(ValueError, match="label_smoothing applies to classification"):
        member_loss(out, y, "regression", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"label_smoothing must be a float in \[0, 1\)"):
        member_loss(out, y, "binary", label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"kind must be one of \['regression'"):
        member_loss(out, y, "ranking")
    assert set(TASK_LOSSES) == {"regression", "binary", "multiclass"}


class _Members(torch.nn.Module):
    # An ensemble whose members' outputs are fixed: [n, k, out].

    def __init__(self, out):
        super().__init__()
        self.out = out

    def forward(self, x):
        return self.out


def test_an_ensembles_prediction_is_the_mean_of_its_members():
    torch.manual_seed(0)
    out = torch.randn(6, 4, 3)
    x = torch.zeros(6, 1)
    torch.testing.assert_close(EnsembleMean(_Members(out), "regression")(x), out.mean(1))
    binary = EnsembleMean(_Members(out[..., :1]), "binary")(x)
    assert binary.shape == (6, 1)
    torch.testing.assert_close(torch.sigmoid(binary), torch.sigmoid(out[..., :1]).mean(1))
    multiclass = ensemble_mean(out, "multiclass")
    torch.testing.assert_close(multiclass.exp(), torch.softmax(out, -1).mean(1))
    # Probabilities are averaged, not logits: one sure member does not win alone.
    sure = torch.tensor([[[30.0], [-1.0], [-1.0], [-1.0]]])
    mean = ensemble_mean(sure, "binary")
    assert torch.sigmoid(mean).item() == pytest.approx(
        (1.0 + 3 * torch.sigmoid(torch.tensor(-1.0)).item()) / 4
    )
    with pytest.raises(ValueError, match=r"out must be \[n, k, out\]"):
        ensemble_mean(out[0], "regression")


@pytest.mark.parametrize(
    "kind, smoothing",
    [
        ("regression", 0.0),
        ("binary", 0.0),
        ("binary", 0.1),
        ("multiclass", 0.0),
        ("multiclass", 0.1),
    ],
)
def test_an_ensembles_training_loss_is_the_mean_of_its_members_losses(kind, smoothing):
    torch.manual_seed(0)
    out = torch.randn(8, 5, 3 if kind == "multiclass" else 1)
    classes = {"regression": 0, "binary": 2, "multiclass": 3}[kind]
    y = torch.randn(8) if kind == "regression" else torch.randint(0, classes, (8,))
    by_hand = [member_loss(out[:, m], y, kind, label_smoothing=smoothing) for m in range(5)]
    loss = member_loss(out, y, kind, 5, label_smoothing=smoothing)
    torch.testing.assert_close(loss, torch.stack(by_hand).mean())
    with pytest.raises(ValueError, match=r"\[n, 4, out\]"):
        member_loss(out, y, kind, 4)
