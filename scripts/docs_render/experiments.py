"""Regions over the experiments: the folders ``pyg-tabular compare --out`` writes
(``docs/results/experiments/<dataset>/``), the defaults sweep
(``docs/results/sweep/``), the ablation of the estimators' levers, whose
chosen configuration's fits are also the defaults' figures
(``docs/results/ablation/``), that combination checked on other tables
(``docs/results/ablation_others/``) and the published numbers
(``docs/results/published.json``), with the README's and the guides' regions
that quote them."""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pyg_tabular.compare.metrics import monitor_of
from pyg_tabular.compare.report import AGGREGATION, RunLog, summarize
from pyg_tabular.run_result import PairedDifference, RunResult, outcome, unconverged
from pyg_tabular.run_result import verdict as paired_verdict

from .registry import MissingResults, family, region
from .text import markdown_table, mib, span, verdict


def load_json(results: Path, relative: str) -> dict[str, Any]:
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- #
# Experiments: the output folders of ``pyg-tabular compare``
# --------------------------------------------------------------------------- #

EXPERIMENTS = "experiments"
#: Every run trained until its patience stopped it (capped by a long budget).
CONVERGED = "converged"
#: The models built on this library's layers; the rest are the peers.
OUR_MODELS = (
    "feature-gat",
    "feature-gat-1head",
    "feature-diff",
    "feature-diff-split",
    "feature-diff-split-groups",
    "graph-feature-aggregation",
    "advanced-graph-feature-layer",
)
PEER = "gatconv"
#: The order of the tables' rows (the order ``scripts/experiments.sh`` names them).
MODEL_ORDER = (
    "feature-gat",
    "feature-gat-1head",
    "feature-diff-split",
    "feature-diff-split-groups",
    "gatconv",
    "gatv2conv",
    "transformerconv",
    "ft-transformer",
    "tabm",
    "mlp",
    "hgb",
)
#: The dataset `pyg-tabular compare` runs without ``--dataset``.
DEFAULT_DATASET = "breast_cancer"
NO_EXPERIMENTS = "No experiment results are recorded yet."


@dataclass
class Dataset:
    """One ``pyg-tabular compare`` folder, read from its ``runs.csv``: the
    tables are summarised from the runs themselves, and verdicts are paired
    over the seeds."""

    name: str
    runs: list[RunResult]
    folder: str = EXPERIMENTS

    @property
    def kind(self) -> str:
        metrics = self.runs[0].metrics
        if "rmse" in metrics:
            return "regression"
        return "binary" if "auc" in metrics else "multiclass"

    @property
    def monitor(self) -> tuple[str, bool]:
        """The metric early stopping follows, and whether higher is better."""
        monitor, mode = monitor_of(self.kind)
        return monitor, mode == "max"

    @cached_property
    def rows(self) -> list[dict[str, str]]:
        order = {name: i for i, name in enumerate(MODEL_ORDER)}
        rows = [{k: str(v) for k, v in row.items()} for row in summarize(self.runs, self.kind)]
        return sorted(rows, key=lambda r: order.get(r["model"], len(order)))

    def model(self, name: str) -> dict[str, str] | None:
        return next((r for r in self.rows if r["model"] == name), None)

    def score(self, row: dict[str, str]) -> tuple[float, float]:
        return mean_std(row[self.monitor[0]])

    def best(self, among: Iterable[str]) -> dict[str, str] | None:
        names = set(among)
        rows = [r for r in self.rows if r["model"] in names]
        if not rows:
            return None
        higher = self.monitor[1]
        return max(rows, key=lambda r: self.score(r)[0] if higher else -self.score(r)[0])

    def verdict(self, a: str, b: str) -> tuple[str, PairedDifference]:
        """:func:`pyg_tabular.run_result.verdict` of :obj:`a` against :obj:`b`."""
        monitor, higher = self.monitor
        return paired_verdict(self.runs, a, b, monitor, "max" if higher else "min")

    def unconverged(self, name: str) -> bool:
        return unconverged(self.runs, name)


def mean_std(text: str) -> tuple[float, float]:
    mean, _, std = text.partition("±")
    return float(mean), float(std or 0)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def load_dataset(results: Path, name: str, folder: str = EXPERIMENTS) -> Dataset:
    relative = f"{folder}/{name}/runs.csv"
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    runs = RunLog(path).read()
    if not runs:
        raise MissingResults(f"results file {relative} is empty")
    return Dataset(name, runs, folder)


def datasets(results: Path, folder: str = EXPERIMENTS) -> list[Dataset]:
    root = results / folder
    if not root.is_dir():
        return []
    names = sorted(p.parent.name for p in root.glob("*/runs.csv"))
    return [load_dataset(results, name, folder) for name in names]


def _interval(difference: PairedDifference) -> str:
    if math.isnan(difference.low):
        return f"{difference.mean:+.4f} (one seed)"
    return f"{difference.mean:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]"


def _table(dataset: Dataset) -> str:
    columns = list(dataset.rows[0])
    best = dataset.best(r["model"] for r in dataset.rows)
    monitor = dataset.monitor[0]
    body = []
    for row in dataset.rows:
        cells = [row[c] for c in columns]
        if best is not None and dataset.score(row)[0] == dataset.score(best)[0]:
            cells[columns.index(monitor)] = f"**{row[monitor]}**"
        body.append(cells)
    direction = "lower" if not dataset.monitor[1] else "higher"
    return (
        f"{monitor} on the test split, mean ± std over seeds ({direction} is better; the "
        "best in bold), with how every run ended (see "
        "[How the columns are aggregated](#how-the-columns-are-aggregated)):\n\n"
        + markdown_table(columns, body)
    )


@family("exp-table")
def exp_table(results: Path, name: str) -> str:
    return _table(load_dataset(results, name))


@family("exp-converged-table")
def exp_converged_table(results: Path, name: str) -> str:
    return _table(load_dataset(results, name, CONVERGED))


def _anytime(results: Path, name: str, folder: str) -> str:
    relative = f"{folder}/{name}/anytime.png"
    if not (results / relative).is_file():
        raise MissingResults(f"results file {relative} is missing")
    return (
        f"![Anytime view of {name}: the best validation metric so far against the seconds of "
        f"training, every model and seed](results/{relative})"
    )


@family("exp-anytime")
def exp_anytime(results: Path, name: str) -> str:
    return _anytime(results, name, EXPERIMENTS)


@family("exp-converged-anytime")
def exp_converged_anytime(results: Path, name: str) -> str:
    return _anytime(results, name, CONVERGED)


@region("exp-aggregation")
def exp_aggregation(results: Path) -> str:
    return "\n".join(f"- **{column}**: {how}." for column, how in AGGREGATION.items())


def _paired_rows(dataset: Dataset, ours: str) -> list[list[str]]:
    body = []
    for row in dataset.rows:
        if row["model"] == ours:
            continue
        sentence, difference = dataset.verdict(ours, row["model"])
        body.append([row["model"], _interval(difference), sentence])
    return body


def _paired_section(dataset: Dataset) -> str:
    best = dataset.best(OUR_MODELS)
    if best is None:
        return "None of our layers ran on this table."
    monitor, higher = dataset.monitor
    header = ["against", f"Δ {monitor} of {best['model']} [95% interval]", "verdict"]
    seeds = max(
        len({r.seed for r in dataset.runs if r.model == m}) for m in OUR_MODELS if dataset.model(m)
    )
    return (
        f"Our best layer here, `{best['model']}`, against every other model, paired over "
        f"the {seeds} seeds (a Student-t 95% interval over {seeds} paired differences; "
        f"{'higher' if higher else 'lower'} is better; a win or a loss needs the interval to "
        "exclude zero):\n\n" + markdown_table(header, _paired_rows(dataset, best["model"]))
    )


@family("exp-paired")
def exp_paired(results: Path, name: str) -> str:
    return _paired_section(load_dataset(results, name))


@family("exp-converged-paired")
def exp_converged_paired(results: Path, name: str) -> str:
    return _paired_section(load_dataset(results, name, CONVERGED))


@region("exp-summary")
def exp_summary(results: Path) -> str:
    found = [d for d in datasets(results) if d.model(PEER) is not None]
    if not found:
        return NO_EXPERIMENTS
    train, infer, ours_added, peer_added, body = [], [], [], [], []
    for d in found:
        peer = d.model(PEER)
        assert peer is not None
        for row in d.rows:
            if row["model"] not in OUR_MODELS:
                continue
            train.append(number(peer["s/epoch"]) / number(row["s/epoch"]))
            infer.append(number(row["infer rows/s"]) / number(peer["infer rows/s"]))
            ours_added.append(number(row["added MiB"]))
        peer_added.append(number(peer["added MiB"]))
        best = d.best(OUR_MODELS)
        if best is None:
            continue
        sentence, difference = d.verdict(best["model"], PEER)
        body.append(
            [
                d.name,
                d.monitor[0],
                best[d.monitor[0]],
                peer[d.monitor[0]],
                _interval(difference),
                sentence,
            ]
        )
    lines = []
    if train:
        lines.append(
            f"Over {len(found)} dataset(s), our layers train {span(train)} faster per epoch "
            f"than `{PEER}` in the same design, predict {span(infer)} more rows per second, "
            f"and add {span(ours_added, mib)} MiB of memory where `{PEER}` adds "
            f"{span(peer_added, mib)} MiB."
        )
    header = ["dataset", "metric", "our best layer", PEER, "paired Δ [95% interval]", "verdict"]
    return "\n\n".join([*lines, markdown_table(header, body)])


#: The four full tables of the accuracy targets, in the page's order.
FULL_TABLES = ("california", "adult", "acs_employment", "diamonds")
#: PyG's convs in the same network: our best layer must beat each of them.
PYG_CONVS = ("gatconv", "gatv2conv", "transformerconv")
#: The strongest deep peers, compared at equal wall-clock budget.
DEEP_PEERS = ("ft-transformer", "tabm")
SWEEP = "sweep"


def _config(results: Path, name: str, folder: str = EXPERIMENTS) -> dict[str, Any]:
    path = results / folder / name / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _budget_text(config: dict[str, Any], folder: str = EXPERIMENTS) -> str:
    budget = config.get("time_budget")
    if folder == CONVERGED:
        cap = f", capped at {budget:g} s of training" if budget else ""
        return f"each run until its patience stopped it{cap}"
    return f"{budget:g} s of training per model and seed" if budget else "no time budget"


def _judged(sentence: str) -> tuple[bool, bool]:
    # (a clear win, a clear loss) of a verdict sentence.
    return " beats " in sentence, " loses to " in sentence


def _conv_rows(
    found: dict[str, Dataset], folder_label: str, tables: Iterable[str] = FULL_TABLES
) -> list[list[str]]:
    body = []
    for name in tables:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        target = f"{name} ({folder_label}): our best layer beats {', '.join(PYG_CONVS)}"
        if d is None or best is None:
            body.append([target, "not run", "–"])
            continue
        cells, met, equal_budget = [], True, False
        for conv in PYG_CONVS:
            if d.model(conv) is None:
                cells.append(f"{conv} not run")
                met = False
                continue
            sentence, difference = d.verdict(best["model"], conv)
            met &= _judged(sentence)[0]
            equal_budget |= sentence.startswith("at equal budget")
            cells.append(f"{sentence}, Δ {_interval(difference)}")
        outcome = verdict(met) + (" at equal budget" if equal_budget else "")
        body.append([target, f"{best['model']} {best[d.monitor[0]]}: " + "; ".join(cells), outcome])
    return body


@region("exp-targets")
def exp_targets(results: Path) -> str:
    found = {d.name: d for d in datasets(results) if d.name in FULL_TABLES}
    converged = {d.name: d for d in datasets(results, CONVERGED) if d.name in FULL_TABLES}
    if not found:
        return NO_EXPERIMENTS
    body = []
    thresholds = {"california": ("rmse", 0.46), "adult": ("accuracy", 0.865)}
    for name, (metric, limit) in thresholds.items():
        for label, tables, folder in (
            ("equal budget", found, EXPERIMENTS),
            ("converged", converged, CONVERGED),
        ):
            d = tables.get(name)
            best = d.best(OUR_MODELS) if d else None
            sign = "≤" if metric == "rmse" else "≥"
            target = f"best of ours on {name} ({label}): {metric} {sign} {limit}"
            if d is None or best is None:
                if label == "equal budget":
                    body.append([target, "not run", "not measured"])
                continue
            mean = d.score(best)[0]
            met = mean <= limit if metric == "rmse" else mean >= limit
            budget = _budget_text(_config(results, name, folder), folder)
            body.append([target, f"{best['model']} {best[metric]} ({budget})", verdict(met)])
    body += _conv_rows(found, "equal budget")
    # Only the tables that were run to convergence (a GPU-free budget runs one).
    body += _conv_rows(converged, "converged", [n for n in FULL_TABLES if n in converged])
    wins, cells = 0, []
    for name in FULL_TABLES:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        if d is None or best is None or any(d.model(p) is None for p in DEEP_PEERS):
            cells.append(f"{name}: not run")
            continue
        sentences = [d.verdict(best["model"], p)[0] for p in DEEP_PEERS]
        # Matching: no clear loss against either peer.
        matched = not any(_judged(s)[1] for s in sentences)
        wins += matched
        cells.append(f"{name}: " + "; ".join(sentences))
    body.append(
        [
            "ours matches or beats FT-Transformer and TabM at equal wall-clock on ≥ 2 of 4 tables "
            "(no paired loss)",
            f"{wins} of 4 ({'; '.join(cells)})",
            verdict(wins >= 2) + " at equal budget",
        ]
    )
    try:
        body.extend(_estimator_target_rows(results))
    except MissingResults as error:
        body.append(["default estimators: California ≤ 0.47, Adult ≥ 0.865", str(error), "–"])
    return markdown_table(
        ["target", "measured (mean ± std; paired Δ [95% interval])", "verdict"], body
    )


def _read_csv(results: Path, relative: str) -> list[dict[str, str]]:
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _estimator_target_rows(results: Path) -> list[list[str]]:
    shipped = Shipped(results)
    rows = []
    for name, metric, limit in (("california", "rmse", 0.47), ("adult", "accuracy", 0.865)):
        fits = shipped.fits(name)
        if not fits:
            rows.append([f"default estimator on {name}", "not run", "not measured"])
            continue
        mean = statistics.fmean(float(r["value"]) for r in fits)
        seconds = max(float(r["seconds"]) for r in fits)
        met = mean <= limit if metric == "rmse" else mean >= limit
        sign = "≤" if metric == "rmse" else "≥"
        rows.append(
            [
                f"default estimator on {name}: {metric} {sign} {limit}",
                f"{mean:.4f} over {len(fits)} seed(s), longest fit {seconds:.0f} s "
                f"({shipped.threads_text})",
                verdict(met),
            ]
        )
    return rows


@region("exp-sweep")
def exp_sweep(results: Path) -> str:
    summary = _read_csv(results, f"{SWEEP}/summary.csv")
    settings = load_json(results, f"{SWEEP}/settings.json")
    names = settings["datasets"]
    body, versus = [], []
    for i, row in enumerate(summary):
        options = settings["configs"].get(row["config"], {})
        described = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "the defaults"
        name = f"**{row['config']}**" if i == 0 else row["config"]
        body.append(
            [name, described, row["mean_rank"], row["mean_gap_pct"], *(row[n] for n in names)]
        )
        if i > 0:
            versus.append([row["config"], *(row.get(f"{n} vs first", "–") for n in names)])
    header = ["config", "options", "mean rank", "mean % from best", *names]
    fits = _read_csv(results, f"{SWEEP}/sweep.csv")
    ended = []
    for name in names:
        mine = [r for r in fits if r["dataset"] == name]
        ended.append(f"{name} {span((int(r['epochs']) for r in mine), str)}")
        best = [int(r["best_epoch"]) for r in mine if r.get("best_epoch")]
        if best:
            ended[-1] += f", best {span(best, str)}"
        stops = stop_counts(r.get("stop_reason", "") for r in mine)
        if stops:
            ended[-1] += f" ({stops})"
    against = ""
    if versus:
        against = (
            f"\n\nEach later configuration against **{summary[0]['config']}**, paired by seed: "
            "the mean difference of the metric, with its Student-t 95% interval over the "
            f"{settings['seeds']} seeds (an interval that holds zero is a tie):\n\n"
            + markdown_table(["config", *names], versus)
        )
    return (
        markdown_table(header, body)
        + against
        + f"\n\n{settings['seeds']} seed(s), {settings['time_budget']:g} s per fit, "
        f"{settings['threads']} thread(s) per fit, {settings.get('jobs', 1)} fit(s) side by "
        f"side; epochs a fit ran, its best epoch, and why it stopped: {'; '.join(ended)}. "
        f"Command: `{settings['command']}`. The first row is the estimators' default "
        "(a test checks that they agree)."
    )


def stop_counts(reasons: Iterable[str]) -> str:
    """How many fits stopped for each reason, worded as the tables word it."""
    counts = Counter(STOPPED_BY.get(reason, reason) for reason in reasons if reason)
    return ", ".join(f"{word} {n}" for word, n in sorted(counts.items()))


@region("exp-estimator-defaults")
def exp_estimator_defaults(results: Path) -> str:
    shipped = Shipped(results)
    body = [
        [
            r["dataset"],
            r["seed"],
            r["metric"],
            r["value"][:6],
            r["seconds"],
            r["epochs"],
            r["best_epoch"],
            STOPPED_BY.get(r["stop_reason"], r["stop_reason"]),
        ]
        for r in shipped.fits()
    ]
    header = ["dataset", "seed", "metric", "test value", "fit s", "epochs", "best epoch"]
    return (
        markdown_table([*header, "stopped by"], body)
        + f"\n\nThese are the fits of the ablation's `{shipped.config}` configuration "
        f"({shipped.described}), which the estimators ship as their defaults (a test checks "
        f"that they agree): {shipped.threads_text}. Command: `{shipped.settings['command']}`."
    )


def _mode(entry: dict[str, Any]) -> str:
    """Which direction of an ablation summary table's metric is better."""
    return "max" if entry["higher_is_better"] else "min"


#: How a fit's stop reason reads in a table.
STOPPED_BY = {"early_stopping": "patience", "time_budget": "time", "max_epochs": "epochs"}


#: The ablation's folder under docs/results (scripts/ablate_defaults.py --out).
ABLATION = "ablation"


class Shipped:
    """The estimators' defaults as the ablation measured them: its ``combined``
    configuration, or ``default`` when it chose no lever."""

    def __init__(self, results: Path) -> None:
        self.summary = load_json(results, f"{ABLATION}/summary.json")
        self.settings = load_json(results, f"{ABLATION}/settings.json")
        self.rows = _read_csv(results, f"{ABLATION}/fits.csv")
        levers = self.summary["combined"]["levers"]
        self.config = "combined" if levers else "default"
        self.described = (
            "the defaults before the ablation with " + ", ".join(levers)
            if levers
            else "the defaults before the ablation: no lever helped"
        )
        seeds, budget = self.settings["seeds"], self.settings.get("time_budget")
        threads = self.settings["threads"]
        self.threads_text = (
            f"{seeds} seeds, an 80/20 split per seed, "
            f"{threads} CPU thread{'s' if threads != 1 else ''} per fit"
            + (f", time budget {budget:g} s" if budget else "")
        )

    def fits(self, dataset: str | None = None) -> list[dict[str, str]]:
        return [
            r for r in self.rows if r["config"] == self.config and dataset in (None, r["dataset"])
        ]


#: The same script's check of that combination on other tables (``--combination``).
ABLATION_OTHERS = "ablation_others"


@region("exp-ablation")
def exp_ablation(results: Path) -> str:
    """The ablation of the estimators' defaults: each lever against the
    default and the combination against HistGradientBoosting, paired by seed
    (``scripts/ablate_defaults.py``'s ``summary.json`` and ``settings.json``)."""
    return _ablation(results, ABLATION, "--out docs/results/ablation --jobs 2")


@region("exp-ablation-others")
def exp_ablation_others(results: Path) -> str:
    """The combination the ablation chose, checked on tables it was not chosen on."""
    return _ablation(
        results,
        ABLATION_OTHERS,
        "--datasets breast_cancer,wine,diabetes,digits --levers '' --combination "
        "docs/results/ablation/summary.json --out docs/results/ablation_others --jobs 2",
    )


def _ablation(results: Path, folder: str, arguments: str) -> str:
    if not (results / folder / "summary.json").is_file():
        return (
            f"Not run yet: `python scripts/ablate_defaults.py {arguments}` writes the results "
            "this section is rendered from."
        )
    summary = load_json(results, f"{folder}/summary.json")
    settings = load_json(results, f"{folder}/settings.json")
    datasets = summary["datasets"]

    def interval(d: dict[str, Any] | None) -> str:
        if d is None:
            return ""
        if d["low"] is None or d["low"] != d["low"]:  # one seed: no interval
            return f" ({d['mean']:+.4f})"
        return f" ({d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}])"

    configs = ["default", *settings["levers"], "combined", "hgb"]
    body = []
    for config in configs:
        if not any(config in d["configs"] for d in datasets.values()):
            continue
        lever = summary["levers"].get(config)
        if config == "combined":
            options = summary["combined"]["options"]
        else:
            options = settings["levers"].get(config, {})
        described = ", ".join(f"{k}={v!r}" for k, v in options.items())
        if config == "hgb":
            described = "HistGradientBoosting"
        if config == "default":
            described = "the defaults before the ablation: " + ", ".join(
                f"{k}={v!r}" for k, v in settings.get("baseline", {}).items()
            )
        row = [f"**{config}**" if lever and lever["chosen"] else config, described]
        for entry in datasets.values():
            stats = entry["configs"].get(config)
            if stats is None:
                row.append("n/a")
            elif config in ("default", "hgb"):
                row.append(f"{stats['mean']:.4f} ± {stats['std']:.4f}")
            else:
                row.append(f"{stats['mean']:.4f}{interval(stats['vs_default'])}")
        body.append(row)
    names = [f"{name} ({entry['metric']})" for name, entry in datasets.items()]
    table = markdown_table(["config", "options", *names], body)

    versus = []
    for config in ("default", "combined"):
        cells = []
        for entry in datasets.values():
            stats = entry["configs"].get(config)
            d = None if stats is None else stats["vs_hgb"]
            if d is None:
                cells.append("–")
                continue
            words = outcome(d["mean"], d["excludes_zero"], _mode(entry))
            cells.append(f"{words} hgb{interval(d)}")
        if any(cell != "–" for cell in cells):
            versus.append([config, *cells])
    against = markdown_table(["against hgb", *datasets], versus)

    def epochs_of(config: str) -> str:
        parts = []
        for name, entry in datasets.items():
            stats = entry["configs"].get(config)
            if stats:
                low, high = min(stats["epochs"]), max(stats["epochs"])
                stops = ", ".join(f"{k} {v}" for k, v in sorted(stats["stops"].items()))
                span = f"{low}" if low == high else f"{low}–{high}"
                parts.append(f"{name} {span} ({stops})")
        return "; ".join(parts)

    chosen = summary["combined"]["levers"]
    budget = settings.get("time_budget")
    caption = (
        f"{settings['seeds']} seeds; for each seed, one {settings['split']} of the full table, "
        "the same for every configuration and for HistGradientBoosting (hgb); the estimators hold "
        f"{settings['validation_fraction']:g} of the training part out for early stopping, hgb "
        "the same fraction. "
        + (f"Time budget {budget:g} s per fit, " if budget else "No time budget, ")
        + f"{settings['threads']} thread(s) per fit. Each difference is the configuration "
        "minus the default (in the first table) or minus hgb (in the second), paired by seed, "
        "with its Student-t 95% interval; RMSE is in the target's units (lower is better), "
        "accuracy higher is better. "
        + (
            f"Rule: {summary['rule']}; it chose {', '.join(chosen) if chosen else 'no lever'} "
            "(in bold)."
            if settings.get("combination_from") is None
            else f"The combination ({', '.join(chosen)}) is the one the ablation chose on its "
            "own tables: these tables only check it."
        )
        + " Epochs run (and why "
        f"training stopped): default: {epochs_of('default')}"
        + (f"; combined: {epochs_of('combined')}" if epochs_of("combined") else "")
        + f". Command: `{settings['command']}`."
    )
    return "\n\n".join([table, against, caption])


@region("exp-published")
def exp_published(results: Path) -> str:
    published = load_json(results, "published.json")
    found = {d.name: d for d in datasets(results)}
    body = []
    for entry in published["numbers"]:
        d = found.get(entry["dataset"])
        best = d.best(OUR_MODELS) if d else None
        ours = f"{best['model']} {best[entry['metric']]}" if d and best else "not run"
        peer = d.model("ft-transformer") if d else None
        theirs = peer[entry["metric"]] if peer else "not run"
        body.append([entry["dataset"], entry["metric"], f"{entry['value']:g}", theirs, ours])
    header = [
        "dataset",
        "metric",
        "published FT-Transformer",
        "FT-Transformer here",
        "our best here",
    ]
    return markdown_table(header, body) + f"\n\nPublished: {published['source']}."


def _settings(results: Path, name: str, folder: str) -> str:
    config = _config(results, name, folder)
    if not config:
        raise MissingResults(f"results file {folder}/{name}/config.json is missing")
    parts = [
        f"{config.get('epochs')} epochs at most",
        _budget_text(config, folder),
        f"patience {config.get('patience', 10)} epochs",
        f"batch size {config.get('batch_size')}",
        f"{config.get('numeric_embedding', 'linear')} numeric embedding",
    ]
    if config.get("max_rows"):
        parts.append(f"subsampled to {config['max_rows']} rows")
    else:
        parts.append("the full table")
    return "Settings: " + ", ".join(parts) + "."


@family("exp-settings")
def exp_settings(results: Path, name: str) -> str:
    return _settings(results, name, EXPERIMENTS)


@family("exp-converged-settings")
def exp_converged_settings(results: Path, name: str) -> str:
    return _settings(results, name, CONVERGED)


# --------------------------------------------------------------------------- #
# Guides
# --------------------------------------------------------------------------- #


@region("readme-compare-default")
def readme_compare_default(results: Path) -> str:
    try:
        dataset = load_dataset(results, DEFAULT_DATASET)
    except MissingResults:
        return NO_EXPERIMENTS
    seconds = sum(r.train_seconds or r.seconds_per_epoch * r.epochs_run for r in dataset.runs)
    columns = list(dataset.rows[0])
    text = markdown_table(columns, ([r[c] for c in columns] for r in dataset.rows))
    return text + f"\n\nTraining all runs took about {seconds / 60:.0f} min."


@region("guide-estimator-numbers")
def guide_estimator_numbers(results: Path) -> str:
    shipped = Shipped(results)
    body = []
    for name, entry in shipped.summary["datasets"].items():
        ours, hgb = entry["configs"].get(shipped.config), entry["configs"].get("hgb")
        if ours is None:
            continue
        cells = [name, entry["metric"], f"{ours['mean']:.4f} ± {ours['std']:.4f}"]
        cells.append(f"{max(ours['seconds']):.0f}")
        if hgb is None or ours["vs_hgb"] is None:
            cells += ["–", "–"]
        else:
            d = ours["vs_hgb"]
            words = outcome(d["mean"], d["excludes_zero"], _mode(entry))
            cells += [
                f"{hgb['mean']:.4f} ± {hgb['std']:.4f}",
                f"{words} ({d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}])",
            ]
        body.append(cells)
    header = ["dataset", "metric", "default estimator", "longest fit s", "hgb", "against hgb"]
    return (
        f"The estimators with their defaults on full tables ({shipped.threads_text}), beside "
        "gradient-boosted trees (hgb) on the same splits; the difference is paired by seed, "
        "with its 95% interval (see {doc}`/experiments`):\n\n" + markdown_table(header, body)
    )


@region("guide-compare-numbers")
def guide_compare_numbers(results: Path) -> str:
    found = datasets(results)
    if not found:
        return NO_EXPERIMENTS
    rows = []
    for d in found:
        best = d.best(r["model"] for r in d.rows)
        assert best is not None
        rows.append(
            [d.name, str(len(d.rows)), d.monitor[0], f"{best['model']} {best[d.monitor[0]]}"]
        )
    return markdown_table(["dataset", "models", "metric", "best model"], rows)
