import pytest
import torch

pytest.importorskip("matplotlib")

from pyg_tabular import compare, plotting  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _results():
    def run(name, seed, value, history):
        return compare.RunResult(
            name, seed, {"accuracy": value}, 10, 0.1, 1.0, len(history), history
        )

    return [
        run("mlp", 0, 0.90, [0.7, 0.8, 0.9]),
        run("mlp", 1, 0.80, [0.6, 0.8]),
        run("hgb", 0, 0.95, [0.5] * 30),
        run("hgb", 1, 0.85, [0.6] * 30),
    ]


def test_learning_curves_average_the_seeds_still_running(tmp_path):
    figure = plotting.plot_learning_curves(_results(), "accuracy", tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG_MAGIC)
    neural, boosted = figure.axes[:2]
    (mlp_line,) = neural.get_lines()
    assert list(mlp_line.get_ydata()) == pytest.approx([0.65, 0.8, 0.9])
    assert boosted.get_xlabel() == "boosting iteration"
    assert [line.get_label() for line in boosted.get_lines()] == ["hgb"]


def test_metric_bars_show_mean_and_spread(tmp_path):
    figure = plotting.plot_metric_bars(_results(), "accuracy", tmp_path / "bars.png")
    assert (tmp_path / "bars.png").read_bytes().startswith(PNG_MAGIC)
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights == pytest.approx([0.85, 0.90])


def test_anytime_view_draws_the_best_so_far_against_the_clock(tmp_path):
    import dataclasses

    timed = dataclasses.replace(
        _results()[0], history=[0.7, 0.9, 0.8], epochs_run=3, elapsed=[1.0, 2.5, 4.0]
    )
    # An older record: no clock, but its training seconds spread over its epochs.
    untimed = dataclasses.replace(_results()[1], train_seconds=4.0)
    lost = dataclasses.replace(_results()[2])  # neither: left out
    path = tmp_path / "anytime.png"
    figure = plotting.plot_anytime([timed, untimed, lost], "accuracy", "max", path)
    assert path.read_bytes().startswith(PNG_MAGIC)
    axis = figure.axes[0]
    first, second = axis.get_lines()
    assert list(first.get_xdata()) == [1.0, 2.5, 4.0]
    assert list(first.get_ydata()) == pytest.approx([0.7, 0.9, 0.9])  # best so far
    assert list(second.get_xdata()) == [2.0, 4.0] and second.get_linestyle() == "--"
    assert axis.get_xscale() == "log"
    assert [t.get_text() for t in axis.get_legend().get_texts()] == ["mlp"]
    # Lower is better for an error metric.
    (line,) = plotting.plot_anytime([timed], "rmse", "min").axes[0].get_lines()
    assert list(line.get_ydata()) == pytest.approx([0.7, 0.7, 0.7])


def test_attention_heatmap_is_labelled_with_feature_names(tmp_path):
    names = ["age", "income", "city"]
    attention = torch.softmax(torch.randn(3, 3), -1)
    figure = plotting.plot_attention(attention, names, "t", tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes().startswith(PNG_MAGIC)
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == names
    assert [t.get_text() for t in axis.get_yticklabels()] == names
    shown = torch.as_tensor(axis.images[0].get_array().data)
    torch.testing.assert_close(shown, attention.double())


def test_attention_heatmap_rejects_mismatched_names():
    with pytest.raises(ValueError, match="feature_names must name the 3 features"):
        plotting.plot_attention(torch.eye(3), ["a", "b"])
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        plotting.plot_attention(torch.zeros(2, 3), ["a", "b"])


def test_relation_graph_draws_each_linked_pair_once(tmp_path):
    from pyg_tabular.nn.graph import LearnedFeatureGraph

    graph = LearnedFeatureGraph(5, 1, feature_names=list("abcde"))
    with torch.no_grad():
        graph.pair_logits.copy_(torch.eye(5).roll(1, dims=1))  # i listens to i + 1
    relation = graph.eval().relation_graph()
    figure = plotting.plot_relation_graph(
        relation, title="g", path=tmp_path / "graph.png", highlight=[(0, 2)]
    )
    assert (tmp_path / "graph.png").read_bytes().startswith(PNG_MAGIC)
    axis = figure.axes[0]
    lines = axis.get_lines()
    # 5 pairs (i, i + 1 mod 5) drawn once each, plus the dashed highlighted (0, 2).
    assert len(lines) == 6
    assert sorted(line.get_linestyle() for line in lines) == ["-"] * 5 + ["--"]
    assert [t.get_text() for t in axis.texts] == list("abcde")
    assert axis.get_title() == "g"


def test_relation_graph_from_an_adjacency_and_errors():
    adjacency = [[0.0, 0.5], [0.0, 0.0]]
    figure = plotting.plot_relation_graph(adjacency, ["x", "y"])
    assert len(figure.axes[0].get_lines()) == 1
    with pytest.raises(ValueError, match="must name the 2 features"):
        plotting.plot_relation_graph(adjacency, ["x"])
    with pytest.raises(ValueError, match="square"):
        plotting.plot_relation_graph([[0.0, 1.0]])
    with pytest.raises(ValueError, match="highlight holds pair"):
        plotting.plot_relation_graph(adjacency, highlight=[(0, 5)])


def test_relation_graph_top_pairs_follow_the_pair_scores():
    from pyg_tabular.nn.graph import RelationGraph

    scores = torch.tensor(
        [[float("-inf"), 5.0, -1.0, 0.0], [2.0, float("-inf"), 3.0, -2.0],
         [0.0, 1.0, float("-inf"), 4.0], [0.5, 0.0, -3.0, float("-inf")]]
    )  # fmt: skip
    # Every weight equal: only the scores can tell the pairs apart.
    graph = RelationGraph(torch.ones(4, 4), scores, list("abcd"))
    figure = plotting.plot_relation_graph(graph, top=2, highlight=[(0, 3)])
    lines = figure.axes[0].get_lines()
    # Pairs (a, b) at 5 and (c, d) at 4, then the highlighted (a, d), dashed.
    assert [line.get_linestyle() for line in lines] == ["-", "--", "-"]
    widths = [line.get_linewidth() for line in lines]
    assert widths[0] > widths[2]  # the stronger pair is drawn bolder
    with pytest.raises(ValueError, match="top must be a positive int"):
        plotting.plot_relation_graph(graph, top=0)
