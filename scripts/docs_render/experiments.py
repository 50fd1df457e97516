"""Regions over the experiments: the folders ``pyg-tabular compare --out`` writes
(``docs/results/experiments/<dataset>/``), the defaults sweep
(``docs/results/sweep/``), the estimators' default fits
(``docs/results/estimator_defaults/``), the ablation of their levers
(``docs/results/ablation/``) and the published numbers
(``docs/results/published.json``), with the README's and the guides' regions
that quote them."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
#: The dataset `pyg-tabular compare` runs without ``--dataset``.
DEFAULT_DATASET = "breast_cancer"
NO_EXPERIMENTS = "No experiment results are recorded yet."


@dataclass
class Dataset:
    name: str
    rows: list[dict[str, str]]

    @property
    def metrics(self) -> list[str]:
        skip = {"model", "seeds", "params", "s/epoch", "infer rows/s", "peak MiB", "added MiB"}
        return [c for c in self.rows[0] if c not in skip]

    @property
    def monitor(self) -> tuple[str, bool]:
        """The metric early stopping follows, and whether higher is better."""
        return ("rmse", False) if "rmse" in self.metrics else ("accuracy", True)

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


def mean_std(text: str) -> tuple[float, float]:
    mean, _, std = text.partition("±")
    return float(mean), float(std or 0)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def load_dataset(results: Path, name: str) -> Dataset:
    path = results / EXPERIMENTS / name / "results.csv"
    if not path.is_file():
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/results.csv is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/results.csv is empty")
    return Dataset(name, rows)


def datasets(results: Path) -> list[Dataset]:
    folder = results / EXPERIMENTS
    if not folder.is_dir():
        return []
    names = sorted(p.parent.name for p in folder.glob("*/results.csv"))
    return [load_dataset(results, name) for name in names]


@family("exp-table")
def exp_table(results: Path, name: str) -> str:
    dataset = load_dataset(results, name)
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
        "best in bold):\n\n" + markdown_table(columns, body)
    )


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
        (mean, std), (peer_mean, peer_std) = d.score(best), d.score(peer)
        higher = d.monitor[1]
        beats = mean > peer_mean if higher else mean < peer_mean
        close = abs(mean - peer_mean) <= max(std, peer_std)
        answer = ("yes" if beats else "**no**") + (" (within one std)" if close else "")
        body.append(
            [
                d.name,
                d.monitor[0],
                f"{best['model']} {best[d.monitor[0]]}",
                peer[d.monitor[0]],
                answer,
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
    header = ["dataset", "metric", "our best layer", PEER, f"beats {PEER}?"]
    return "\n\n".join([*lines, markdown_table(header, body)])


#: The four full tables of the accuracy targets, in the page's order.
FULL_TABLES = ("california", "adult", "acs_employment", "diamonds")
#: PyG's convs in the same network: our best layer must beat each of them.
PYG_CONVS = ("gatconv", "gatv2conv", "transformerconv")
#: The strongest deep peers, compared at equal wall-clock budget.
DEEP_PEERS = ("ft-transformer", "tabm")
SWEEP = "sweep"
ESTIMATOR_DEFAULTS = "estimator_defaults"


def _config(results: Path, name: str) -> dict[str, Any]:
    path = results / EXPERIMENTS / name / "config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _budget_text(config: dict[str, Any]) -> str:
    budget = config.get("time_budget")
    return f"{budget:g} s of training per model and seed" if budget else "no time budget"


def _better(d: Dataset, a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] > b[0] if d.monitor[1] else a[0] < b[0]


def _margin(d: Dataset, ours: dict[str, str], peer: dict[str, str]) -> tuple[bool, bool]:
    """Whether ours is better than peer, and whether by more than one seed std
    (the larger of the two)."""
    a, b = d.score(ours), d.score(peer)
    return _better(d, a, b), abs(a[0] - b[0]) > max(a[1], b[1])


@region("exp-targets")
def exp_targets(results: Path) -> str:
    found = {d.name: d for d in datasets(results) if d.name in FULL_TABLES}
    if not found:
        return NO_EXPERIMENTS
    body = []
    thresholds = {"california": ("rmse", 0.46), "adult": ("accuracy", 0.865)}
    for name, (metric, limit) in thresholds.items():
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        if d is None or best is None:
            body.append([f"best of ours on {name}: {metric} {limit}", "not run", "not measured"])
            continue
        mean = d.score(best)[0]
        met = mean <= limit if metric == "rmse" else mean >= limit
        sign = "≤" if metric == "rmse" else "≥"
        body.append(
            [
                f"best of ours on {name}: {metric} {sign} {limit}",
                f"{best['model']} {best[metric]} ({_budget_text(_config(results, name))})",
                verdict(met),
            ]
        )
    for name in FULL_TABLES:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        if d is None or best is None:
            body.append([f"{name}: our best layer beats {', '.join(PYG_CONVS)}", "not run", "–"])
            continue
        cells, met = [], True
        for conv in PYG_CONVS:
            peer = d.model(conv)
            if peer is None:
                cells.append(f"{conv} not run")
                met = False
                continue
            better, clear = _margin(d, best, peer)
            met &= better and clear
            how = "beats" if better else "loses to"
            cells.append(
                f"{how} {conv} {peer[d.monitor[0]]}" + ("" if clear else " (within one std)")
            )
        body.append(
            [
                f"{name}: our best layer beats {', '.join(PYG_CONVS)} by more than one std",
                f"{best['model']} {best[d.monitor[0]]}: " + "; ".join(cells),
                verdict(met),
            ]
        )
    wins, cells = 0, []
    for name in FULL_TABLES:
        d = found.get(name)
        best = d.best(OUR_MODELS) if d else None
        peers = [d.model(p) for p in DEEP_PEERS] if d else []
        if d is None or best is None or any(p is None for p in peers):
            cells.append(f"{name}: not run")
            continue
        # Matching: better, or within one std of the peer.
        matched = all(_margin(d, best, p)[0] or not _margin(d, best, p)[1] for p in peers)
        wins += matched
        cells.append(f"{name}: {'matches or beats both' if matched else 'does not'}")
    body.append(
        [
            "ours matches or beats FT-Transformer and TabM at equal wall-clock on ≥ 2 of 4 tables",
            f"{wins} of 4 ({'; '.join(cells)})",
            verdict(wins >= 2),
        ]
    )
    try:
        body.extend(_estimator_target_rows(results))
    except MissingResults as error:
        body.append(["default estimators: California ≤ 0.47, Adult ≥ 0.865", str(error), "–"])
    return markdown_table(["target", "measured (mean ± std over seeds)", "verdict"], body)


def _read_csv(results: Path, relative: str) -> list[dict[str, str]]:
    path = results / relative
    if not path.is_file():
        raise MissingResults(f"results file {relative} is missing")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _estimator_target_rows(results: Path) -> list[list[str]]:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    rows = []
    for name, metric, limit in (("california", "rmse", 0.47), ("adult", "accuracy", 0.865)):
        values = [float(r["value"]) for r in fits if r["dataset"] == name]
        if not values:
            rows.append([f"default estimator on {name}", "not run", "not measured"])
            continue
        mean = sum(values) / len(values)
        seconds = max(float(r["fit_seconds"]) for r in fits if r["dataset"] == name)
        met = mean <= limit if metric == "rmse" else mean >= limit
        sign = "≤" if metric == "rmse" else "≥"
        rows.append(
            [
                f"default estimator on {name}: {metric} {sign} {limit}",
                f"{mean:.4f} over {len(values)} seed(s), longest fit {seconds:.0f} s "
                f"(time budget {settings['time_budget']:g} s)",
                verdict(met),
            ]
        )
    return rows


@region("exp-sweep")
def exp_sweep(results: Path) -> str:
    summary = _read_csv(results, f"{SWEEP}/summary.csv")
    settings = load_json(results, f"{SWEEP}/settings.json")
    names = [c for c in summary[0] if c not in ("config", "mean_rank", "mean_gap_pct")]
    body = []
    for i, row in enumerate(summary):
        options = settings["configs"].get(row["config"], {})
        described = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "the defaults"
        name = f"**{row['config']}**" if i == 0 else row["config"]
        body.append(
            [name, described, row["mean_rank"], row["mean_gap_pct"], *(row[n] for n in names)]
        )
    header = ["config", "options", "mean rank", "mean % from best", *names]
    fits = _read_csv(results, f"{SWEEP}/sweep.csv")
    epochs = []
    for name in names:
        counts = [int(r["epochs"]) for r in fits if r["dataset"] == name]
        low, high = min(counts), max(counts)
        epochs.append(f"{name} {low}" if low == high else f"{name} {low}–{high}")
    return (
        markdown_table(header, body)
        + f"\n\n{settings['seeds']} seed(s), {settings['time_budget']:g} s per fit, "
        f"{settings['threads']} thread(s); epochs a fit ran: {', '.join(epochs)}. Command: "
        f"`{settings['command']}`. The first row is the estimators' default (a test checks "
        "that they agree)."
    )


@region("exp-estimator-defaults")
def exp_estimator_defaults(results: Path) -> str:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    body = [
        [r["dataset"], r["seed"], r["metric"], r["value"][:6], r["fit_seconds"], r["epochs"]]
        for r in fits
    ]
    return (
        markdown_table(["dataset", "seed", "metric", "test value", "fit s", "epochs"], body)
        + f"\n\nCommand: `{settings['command']}` (time budget {settings['time_budget']:g} s "
        f"per fit, {settings['threads']} thread(s))."
    )


#: The ablation's folder under docs/results (scripts/ablate_defaults.py --out).
ABLATION = "ablation"


@region("exp-ablation")
def exp_ablation(results: Path) -> str:
    """The ablation of the estimators' defaults: each lever against the
    default and the combination against HistGradientBoosting, paired by seed
    (``scripts/ablate_defaults.py``'s ``summary.json`` and ``settings.json``)."""
    if not (results / ABLATION / "summary.json").is_file():
        return (
            "The ablation has not been run yet: `python scripts/ablate_defaults.py --out "
            "docs/results/ablation --jobs 2` writes the results this section is rendered from."
        )
    summary = load_json(results, f"{ABLATION}/summary.json")
    settings = load_json(results, f"{ABLATION}/settings.json")
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
        row = [f"**{config}**" if lever and lever["chosen"] else config, described or "as shipped"]
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
            better = d["mean"] > 0 if entry["higher_is_better"] else d["mean"] < 0
            words = ("beats" if better else "loses to") if d["excludes_zero"] else "ties with"
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
        f"accuracy higher is better. Rule: {summary['rule']}; it chose "
        f"{', '.join(chosen) if chosen else 'no lever'} (in bold). Epochs run (and why "
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


@family("exp-settings")
def exp_settings(results: Path, name: str) -> str:
    config = _config(results, name)
    if not config:
        raise MissingResults(f"results file {EXPERIMENTS}/{name}/config.json is missing")
    parts = [
        f"{config.get('epochs')} epochs at most",
        _budget_text(config),
        f"batch size {config.get('batch_size')}",
        f"{config.get('numeric_embedding', 'linear')} numeric embedding",
    ]
    if config.get("max_rows"):
        parts.append(f"subsampled to {config['max_rows']} rows")
    else:
        parts.append("the full table")
    return "Settings: " + ", ".join(parts) + "."


# --------------------------------------------------------------------------- #
# Guides
# --------------------------------------------------------------------------- #


@region("readme-compare-default")
def readme_compare_default(results: Path) -> str:
    try:
        dataset = load_dataset(results, DEFAULT_DATASET)
    except MissingResults:
        return NO_EXPERIMENTS
    seconds = None
    log = results / EXPERIMENTS / DEFAULT_DATASET / "runs.csv"
    if log.is_file():
        with open(log, newline="", encoding="utf-8") as handle:
            seconds = sum(
                float(r["seconds_per_epoch"]) * int(r["epochs_run"]) for r in csv.DictReader(handle)
            )
    columns = list(dataset.rows[0])
    text = markdown_table(columns, ([r[c] for c in columns] for r in dataset.rows))
    if seconds is not None:
        text += f"\n\nTraining all runs took about {seconds / 60:.0f} min (epochs × s/epoch)."
    return text


@region("guide-estimator-numbers")
def guide_estimator_numbers(results: Path) -> str:
    fits = _read_csv(results, f"{ESTIMATOR_DEFAULTS}/sweep.csv")
    settings = load_json(results, f"{ESTIMATOR_DEFAULTS}/settings.json")
    found = {d.name: d for d in datasets(results)}
    body = []
    for name in dict.fromkeys(r["dataset"] for r in fits):
        mine = [r for r in fits if r["dataset"] == name]
        metric = mine[0]["metric"]
        mean = sum(float(r["value"]) for r in mine) / len(mine)
        seconds = max(float(r["fit_seconds"]) for r in mine)
        d = found.get(name)
        hgb = d.model("hgb") if d else None
        body.append([name, metric, f"{mean:.4f}", f"{seconds:.0f}", hgb[metric] if hgb else "–"])
    return (
        "The estimators with their defaults on full tables (time budget "
        f"{settings['time_budget']:g} s per fit, {settings['threads']} CPU thread), beside "
        "gradient-boosted trees on the same split (see {doc}`/experiments`):\n\n"
        + markdown_table(["dataset", "metric", "default estimator", "fit s", "hgb"], body)
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
