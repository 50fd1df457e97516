import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch

import pyg_tabular.datasets as datasets
from pyg_tabular.datasets import StreamingTabularLoader, TabularDataset, TabularLoader

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def make_frame(num_rows=103, target="multiclass", seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(3.0, 2.0, num_rows),
            "b": rng.integers(-5, 5, num_rows),
            "c": pd.Series(rng.choice(["u", "v", "w"], num_rows), dtype=object),
            # A large offset makes a naive sum-of-squares variance visibly wrong.
            "d": rng.normal(size=num_rows) * 10.0 + 1e4,
            "k": rng.integers(0, 4, num_rows),
        }
    )
    frame.loc[rng.random(num_rows) < 0.2, "a"] = np.nan
    frame.loc[rng.random(num_rows) < 0.15, "c"] = None
    if target == "multiclass":
        frame["y"] = rng.choice(["no", "yes", "maybe"], num_rows)
    elif target == "binary":
        frame["y"] = rng.integers(0, 2, num_rows)
    else:
        frame["y"] = np.arange(num_rows, dtype=np.float64)  # the row number
    return frame


def split_chunks(frame, size):
    chunks = [frame.iloc[start : start + size] for start in range(0, len(frame), size)]
    return chunks[:1] + [frame.iloc[:0]] + chunks[1:]  # an empty chunk is skipped


def in_memory(frame, **kwargs):
    kwargs.setdefault("categorical", ["c", "k"])
    return TabularDataset(frame, "y", split=(1.0, 0.0, 0.0), **kwargs)


def assert_close(got, want):
    # Float64 cells may differ in the last bits (merged vs two-pass moments),
    # which can round a float32 cell to its neighbour.
    tolerance = 1e-12 if want.dtype == torch.float64 else 2e-7
    assert got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)


def assert_same_batches(streamed, expected):
    streamed, expected = list(streamed), list(expected)
    assert len(streamed) == len(expected)
    for got, want in zip(streamed, expected):
        if isinstance(want, tuple):
            assert_close(got[0], want[0])
            assert torch.equal(got[1], want[1])
            continue
        assert isinstance(got, Batch)
        assert sorted(got.keys()) == sorted(want.keys())
        for key in want.keys():
            if isinstance(want[key], torch.Tensor) and torch.is_floating_point(want[key]):
                assert_close(got[key], want[key])
            elif isinstance(want[key], torch.Tensor):
                assert torch.equal(got[key], want[key]), key
            else:
                assert got[key] == want[key], key


def epoch_rows(loader):
    rows = []
    for item in loader:
        y = item[1] if isinstance(item, tuple) else item.y
        rows.extend(int(v) for v in y.tolist())
    return rows


@pytest.mark.parametrize("target", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("chunk", [1, 10, 1000])
def test_statistics_equal_tabular_dataset(target, chunk):
    frame = make_frame(target=target)
    loader = StreamingTabularLoader(
        split_chunks(frame, chunk), "y", categorical=["c", "k"], missing="drop"
    )
    dataset = in_memory(frame)
    torch.testing.assert_close(loader.mean, dataset.mean, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(loader.std, dataset.std, rtol=1e-12, atol=1e-10)
    assert loader.mean.dtype == loader.std.dtype == torch.float64
    assert loader.feature_names == dataset.feature_names == ["a", "b", "d", "c", "k"]
    assert loader.vocabularies == dataset.vocabularies
    assert loader.cardinalities == dataset.cardinalities
    assert (loader.task, loader.classes, loader.num_classes) == (
        dataset.task,
        dataset.classes,
        dataset.num_classes,
    )
    assert loader.num_rows == len(dataset) == 103


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_batches_equal_tabular_loader(static, dtype):
    frame = make_frame()
    impute = "mean" if static else None  # the static form has no missing cells
    options = dict(batch_size=10, static=static)
    if not static:
        options["missing"] = "drop"
    loader = StreamingTabularLoader(
        split_chunks(frame, 17), "y", categorical=["c", "k"], impute=impute, dtype=dtype, **options
    )
    dataset = in_memory(frame, impute=impute, dtype=dtype)
    expected = TabularLoader(dataset, split=None, **options)
    assert len(loader) == len(expected) == 11
    assert_same_batches(loader, expected)
    assert_same_batches(loader, expected)  # a second epoch reads the source again


def test_batches_equal_tabular_loader_for_regression_with_a_template():
    frame = make_frame(target="regression").drop(columns=["c"])
    edge_index = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    options = dict(batch_size=8, drop_last=True, missing="drop", edge_index=edge_index)
    loader = StreamingTabularLoader(split_chunks(frame, 5), "y", categorical=["k"], **options)
    expected = TabularLoader(in_memory(frame, categorical=["k"]), split=None, **options)
    assert len(loader) == len(expected) == 12
    assert_same_batches(loader, expected)


def test_parquet_source_equals_frame_source(tmp_path):
    frame = make_frame()
    path = tmp_path / "table.parquet"
    # Row groups of 20 read in record batches of 10 give the chunks of the frame
    # source, so even the rounding of the merged statistics is the same.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=20)
    options = dict(categorical=["c", "k"], batch_size=16, missing="drop")
    from_file = StreamingTabularLoader(path, "y", chunk_size=10, **options)
    from_frames = StreamingTabularLoader(split_chunks(frame, 10), "y", **options)
    torch.testing.assert_close(from_file.mean, from_frames.mean, rtol=0, atol=0)
    torch.testing.assert_close(from_file.std, from_frames.std, rtol=0, atol=0)
    assert from_file.vocabularies == from_frames.vocabularies
    assert from_file.classes == from_frames.classes
    assert_same_batches(from_file, from_frames)
    static = StreamingTabularLoader(str(path), "y", impute="mean", static=True, **options)
    expected = TabularLoader(
        in_memory(frame, impute="mean"), split=None, batch_size=16, static=True
    )
    assert_same_batches(static, expected)


@pytest.mark.parametrize("static", [False, True])
def test_shuffle_every_row_once_reproducible_and_new_every_epoch(static):
    frame = make_frame(target="regression")
    chunks = split_chunks(frame, 9)
    options = dict(categorical=["c", "k"], batch_size=8, shuffle=True, shuffle_buffer=20)
    options.update(static=static, impute="mean")
    first = StreamingTabularLoader(chunks, "y", seed=3, **options)
    second = StreamingTabularLoader(chunks, "y", seed=3, **options)
    other = StreamingTabularLoader(chunks, "y", seed=4, **options)
    epochs = [epoch_rows(first) for _ in range(3)]
    for rows in epochs:
        assert sorted(rows) == list(range(103))
    assert epochs[0] != epochs[1] != epochs[2]
    assert epochs[0] != list(range(103))
    assert [epoch_rows(second) for _ in range(3)] == epochs
    assert epoch_rows(other) != epochs[0]
    first.set_epoch(1)
    assert epoch_rows(first) == epochs[1]


def test_shuffle_moves_rows_forward_by_at_most_buffer_and_chunk():
    frame = make_frame(num_rows=400, target="regression")
    loader = StreamingTabularLoader(
        split_chunks(frame, 25), "y", categorical=["c"], shuffle=True, shuffle_buffer=30,
        seed=0, impute="mean", static=True, batch_size=64,
    )  # fmt: skip
    rows = epoch_rows(loader)
    position = {row: index for index, row in enumerate(rows)}
    assert all(position[row] >= row - (30 + 25) for row in range(400))
    # ... and the shuffle is not the identity within that window.
    assert sum(position[row] != row for row in range(400)) > 300


def test_shuffled_parquet_reads_row_groups_in_random_order(tmp_path):
    frame = make_frame(num_rows=120, target="regression")
    path = tmp_path / "table.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=20)
    loader = StreamingTabularLoader(
        path, "y", categorical=["c"], shuffle=True, shuffle_buffer=1, chunk_size=20,
        seed=0, impute="mean", static=True, batch_size=20,
    )  # fmt: skip
    rows = epoch_rows(loader)
    assert sorted(rows) == list(range(120))
    first_of_each_group = sorted(rows[i] // 20 for i in range(0, 120, 20))
    assert first_of_each_group != [rows[i] // 20 for i in range(0, 120, 20)]


def test_callable_source_is_called_once_per_pass():
    frame = make_frame()
    calls = []

    def source():
        calls.append(1)
        return iter(split_chunks(frame, 30))

    loader = StreamingTabularLoader(source, "y", categorical=["c", "k"], missing="drop")
    assert len(calls) == 1  # the fitting pass
    list(loader)
    list(loader)
    assert len(calls) == 3


def test_statistics_encode_new_rows_like_tabular_dataset_transform():
    train, new = make_frame(seed=0), make_frame(num_rows=40, seed=1)
    new.loc[3, "c"] = "never seen"
    new.loc[5, "k"] = 99
    dataset = in_memory(train, impute="mean")
    streamed = StreamingTabularLoader(
        split_chunks(train, 25), "y", categorical=["c", "k"], impute="mean"
    )
    expected = TabularLoader(dataset.transform(new), split="test", batch_size=16, static=True)
    for statistics in (dataset, streamed):
        loader = StreamingTabularLoader(
            split_chunks(new, 7), statistics=statistics, batch_size=16, static=True
        )
        assert loader.dtype == statistics.dtype and loader.impute == "mean"
        assert loader.target_name == "y"
        assert_same_batches(loader, expected)
    without_target = StreamingTabularLoader(
        [new.drop(columns=["y"])], statistics=streamed, static=True, batch_size=64
    )
    x, y = next(iter(without_target))
    assert y is None and x.shape == (40, 5, 1)
    assert x[3, 3, 0] == 0 and x[5, 4, 0] == 0  # unseen categories get code 0


def test_constant_column_is_only_centred():
    frame = pd.DataFrame({"a": np.full(50, 0.1), "b": np.arange(50.0), "y": np.arange(50) % 2})
    loader = StreamingTabularLoader(split_chunks(frame, 7), "y", static=True, batch_size=50)
    assert loader.mean[0].item() == 0.1 and loader.std[0].item() == 1.0
    x, _ = next(iter(loader))
    assert torch.equal(x[:, 0, 0], torch.zeros(50))


def test_all_missing_column_gets_mean_zero_and_std_one():
    frame = pd.DataFrame({"a": np.full(9, np.nan), "b": np.arange(9.0), "y": np.arange(9) % 3})
    loader = StreamingTabularLoader(split_chunks(frame, 4), "y", missing="drop")
    dataset = TabularDataset(frame, "y", split=(1.0, 0.0, 0.0))
    assert loader.mean.tolist() == dataset.mean.tolist() == [0.0, 4.0]
    assert loader.std[0].item() == dataset.std[0].item() == 1.0
    assert sum(batch.num_nodes for batch in loader) == 9  # only column b has nodes


def test_len_repr_drop_last_and_exports():
    frame = make_frame()
    loader = StreamingTabularLoader(
        split_chunks(frame, 40), "y", categorical=["c", "k"], batch_size=10, missing="drop"
    )
    assert (
        repr(loader) == "StreamingTabularLoader(rows=103, features=5, batch_size=10, shuffle=False)"
    )
    assert len(loader) == 11
    assert [batch.num_graphs for batch in loader] == [10] * 10 + [3]
    dropping = StreamingTabularLoader(
        split_chunks(frame, 40), "y", categorical=["c", "k"], batch_size=10, missing="drop",
        drop_last=True,
    )  # fmt: skip
    assert len(dropping) == 10
    assert [batch.num_graphs for batch in dropping] == [10] * 10
    one = StreamingTabularLoader(
        split_chunks(frame, 40), "y", categorical=["c", "k"], batch_size=1, impute="mean"
    )
    assert len(one) == 103 and next(iter(one)).num_graphs == 1
    assert "StreamingTabularLoader" in datasets.__all__


# ---------------------------------------------------------------------- errors
def test_source_type_errors(tmp_path):
    frame = make_frame()
    with pytest.raises(TypeError, match="single DataFrame"):
        StreamingTabularLoader(frame, "y")
    with pytest.raises(TypeError, match=r"one-shot iterator \(generator\)"):
        StreamingTabularLoader((chunk for chunk in [frame]), "y")
    with pytest.raises(TypeError, match=r"source must be a parquet path.*\(got int\)"):
        StreamingTabularLoader(3, "y")
    with pytest.raises(TypeError, match=r"source chunk 1 must be a pandas.DataFrame \(got dict\)"):
        StreamingTabularLoader([frame, {"a": [1.0]}], "y", categorical=["c"], missing="drop")
    with pytest.raises(TypeError, match=r"source\(\) must return an iterable.*\(got int\)"):
        StreamingTabularLoader(lambda: 3, "y")
    with pytest.raises(ValueError, match="is not a file"):
        StreamingTabularLoader(tmp_path / "absent.parquet", "y")
    text = tmp_path / "table.csv"
    text.write_text("a,y\n1,0\n")
    with pytest.raises(ValueError, match="is not a readable parquet file"):
        StreamingTabularLoader(text, "y")


def test_empty_source_errors():
    with pytest.raises(ValueError, match=r"source yielded no rows \(got list\)"):
        StreamingTabularLoader([], "y")
    with pytest.raises(ValueError, match="source yielded no rows"):
        StreamingTabularLoader([make_frame().iloc[:0]], "y")


def test_column_mismatch_between_chunks():
    frame = make_frame()
    chunks = [frame.iloc[:50], frame.iloc[50:].drop(columns=["b"]).assign(e=1.0)]
    with pytest.raises(ValueError, match=r"chunk 1 has other.*missing \['b'\], extra \['e'\]"):
        StreamingTabularLoader(chunks, "y", categorical=["c", "k"], missing="drop")


@pytest.mark.parametrize(
    "value, match",
    [
        (np.nan, r"target 'y' has missing values \(first rows \[62\]\)"),
        (np.inf, r"target 'y' must be finite; found inf at row 62"),
    ],
)
def test_bad_target_values_name_the_row(value, match):
    frame = make_frame(target="regression")
    frame.loc[62, "y"] = value
    with pytest.raises(ValueError, match=match):
        StreamingTabularLoader(split_chunks(frame, 25), "y", categorical=["c", "k"])


def test_target_errors():
    frame = make_frame()
    with pytest.raises(ValueError, match="target is required"):
        StreamingTabularLoader([frame])
    with pytest.raises(ValueError, match=r"target 'nope' is not a column of source"):
        StreamingTabularLoader([frame], "nope")
    with pytest.raises(ValueError, match=r"categorical column 'z' is not a column"):
        StreamingTabularLoader([frame], "y", categorical=["c", "z"])
    with pytest.raises(ValueError, match="must have at least two classes"):
        StreamingTabularLoader([frame.assign(y="same")], "y", categorical=["c"])
    with pytest.raises(ValueError, match="task='binary' needs exactly two classes"):
        StreamingTabularLoader([frame], "y", categorical=["c"], task="binary")
    with pytest.raises(ValueError, match="must be numeric for task='regression'"):
        StreamingTabularLoader([frame], "y", categorical=["c"], task="regression")
    ints = make_frame(target="binary")
    floats = ints.assign(y=ints["y"].astype(float))
    with pytest.raises(ValueError, match=r"not floating-point in the first chunk.*float64 at row"):
        StreamingTabularLoader([ints.iloc[:50], floats.iloc[50:]], "y", categorical=["c"])
    with pytest.raises(ValueError, match=r"column 'c' is not numeric"):
        StreamingTabularLoader([frame], "y", missing="drop")


def test_bad_numeric_cells():
    frame = make_frame()
    frame.loc[70, "d"] = -np.inf
    with pytest.raises(ValueError, match=r"column 'd' holds -inf at row 70"):
        StreamingTabularLoader(split_chunks(frame, 25), "y", categorical=["c", "k"])
    frame = make_frame()
    first = int(np.flatnonzero(frame["a"].isna())[0])
    with pytest.raises(ValueError, match=rf"first: row {first}, column 'a'.*missing='drop'"):
        StreamingTabularLoader(split_chunks(frame, 25), "y", categorical=["c", "k"])
    with pytest.raises(ValueError, match="static=False with missing='drop'"):
        StreamingTabularLoader([frame], "y", categorical=["c", "k"], static=True, missing="drop")


@pytest.mark.parametrize(
    "option, value",
    [
        ("batch_size", 0),
        ("batch_size", True),
        ("shuffle_buffer", 0),
        ("chunk_size", -1),
        ("seed", "1"),
        ("missing", "fill"),
        ("task", "ranking"),
        ("impute", "median"),
        ("dtype", torch.long),
    ],
)
def test_bad_options_name_the_argument_and_value(option, value):
    with pytest.raises(ValueError, match=rf"{option} must .*{value!r}"):
        StreamingTabularLoader([make_frame()], "y", categorical=["c", "k"], **{option: value})


def test_bad_option_combinations():
    frame = make_frame()
    with pytest.raises(TypeError, match="shuffle must be a bool"):
        StreamingTabularLoader([frame], "y", shuffle="yes")
    with pytest.raises(ValueError, match="edge_index is not used with static=True"):
        StreamingTabularLoader(
            [frame], "y", categorical=["c", "k"], static=True, impute="mean",
            edge_index=torch.tensor([[0], [1]]),
        )  # fmt: skip
    with pytest.raises(TypeError, match=r"statistics must be .*\(got dict\)"):
        StreamingTabularLoader([frame], "y", statistics={})
    fitted = StreamingTabularLoader([frame], "y", categorical=["c", "k"], impute="mean")
    with pytest.raises(ValueError, match=r"\['categorical'\] come from statistics"):
        StreamingTabularLoader([frame], statistics=fitted, categorical=["c"])
    with pytest.raises(ValueError, match=r"missing the feature columns \['a'\]"):
        StreamingTabularLoader([frame.drop(columns=["a"])], statistics=fitted)


def test_a_source_that_changes_between_epochs_is_an_error():
    frame = make_frame()
    versions = [frame, frame.assign(c=frame["c"].replace("w", "new"))]
    loader = StreamingTabularLoader(
        lambda: [versions.pop(0)], "y", categorical=["c", "k"], impute="mean"
    )
    with pytest.raises(ValueError, match=r"column 'c' holds 'new' at row \d+, which the fitting"):
        list(loader)
    shrinking = [frame, frame.iloc[:50]]
    loader = StreamingTabularLoader(
        lambda: [shrinking.pop(0)], "y", categorical=["c", "k"], impute="mean"
    )
    with pytest.raises(ValueError, match="yielded 50 rows this epoch but 103 at construction"):
        list(loader)
    relabelled = [frame, frame.assign(y="other")]
    loader = StreamingTabularLoader(
        lambda: [relabelled.pop(0)], "y", categorical=["c", "k"], impute="mean"
    )
    with pytest.raises(ValueError, match=r"outside the known classes.*'other'"):
        list(loader)


# ---------------------------------------------------------------------- memory
_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, pyarrow as pa, pyarrow.parquet as pq, torch
    from pyg_tabular.datasets import StreamingTabularLoader

    torch.set_num_threads(1)
    path, rows, cols, group = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    def write(path, rows):
        schema = pa.schema([(f"x{i}", pa.float64()) for i in range(cols)] + [("y", pa.int64())])
        rng = np.random.default_rng(0)
        with pq.ParquetWriter(path, schema) as writer:  # one row group at a time
            for start in range(0, rows, group):
                size = min(group, rows - start)
                arrays = [pa.array(rng.standard_normal(size)) for _ in range(cols)]
                arrays.append(pa.array(rng.integers(0, 2, size)))
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

    def train(path):
        loader = StreamingTabularLoader(path, "y", batch_size=4096, static=True, chunk_size=16384)
        model = torch.nn.Linear(cols, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
        seen = 0
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x.squeeze(-1)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += y.numel()
        return loader, seen

    # Warm up on a tiny file, so that lazily loaded code is not counted.
    write(path + ".tiny", 1000)
    train(path + ".tiny")
    base = peak_mb()
    write(path, rows)
    loader, seen = train(path)
    print(json.dumps({"base_mb": base, "peak_mb": peak_mb(), "seen": seen,
                      "mean": loader.mean.tolist(), "std": loader.std.tolist()}))
    """
)


@pytest.mark.slow
def test_peak_memory_stays_far_below_the_table(tmp_path):
    rows, cols = 2_000_000, 20
    command = [sys.executable, "-c", _MEMORY_SCRIPT, str(tmp_path / "long.parquet")]
    result = subprocess.run(
        [*command, str(rows), str(cols), "20000"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["seen"] == rows
    np.testing.assert_allclose(report["mean"], 0.0, atol=5e-3)  # standard normal columns
    np.testing.assert_allclose(report["std"], 1.0, atol=5e-3)
    table_mb = rows * cols * 8 / 2**20  # the float64 cells alone, without pandas' overhead
    growth = report["peak_mb"] - report["base_mb"]
    assert growth < table_mb / 3, f"peak RSS grew by {growth:.0f} MiB (table: {table_mb:.0f} MiB)"
