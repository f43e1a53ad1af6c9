"""Each plot helper on small random inputs: the right axes, labels and texts; no side effects."""

import matplotlib

matplotlib.use("Agg")  # no display needed; set before pyplot draws anything

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.offsetbox import AnnotationBbox  # noqa: E402
from PIL import Image  # noqa: E402

from clipcourse import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Close what each test opened, and check no plot changed matplotlib's settings."""
    before = dict(matplotlib.rcParams)
    yield
    plt.close("all")
    assert dict(matplotlib.rcParams) == before


@pytest.fixture
def images():
    """Four small PIL images of different shapes and modes."""
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)),
        Image.new("L", (16, 16), 128),
        Image.new("RGBA", (30, 30), (255, 0, 0, 128)),
    ]


def _draw(fig):
    fig.canvas.draw()  # catches errors that only appear at render time
    return fig


@pytest.mark.parametrize("as_tensor", [False, True])
def test_plot_similarity(images, as_tensor):
    texts = ["a red square", "a noisy picture", "grey"]
    similarity = np.random.default_rng(1).uniform(-0.1, 0.4, (3, 4))  # [n_texts, n_images]
    if as_tensor:
        similarity = torch.tensor(similarity, dtype=torch.float16)
    fig = _draw(plots.plot_similarity(similarity, images, texts, vmin=0.1, vmax=0.3))
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert len(ax.images) == 1 + len(images)  # the heatmap and one thumbnail per column
    assert len(ax.texts) == 3 * 4
    assert [label.get_text() for label in ax.get_yticklabels()] == texts
    assert ax.texts[0].get_text() == format(float(similarity[0, 0]), ".2f")
    assert ax.get_title()


def test_plot_similarity_without_images():
    fig = _draw(plots.plot_similarity(np.eye(2), None, ["a", "b"], title=None))
    (ax,) = fig.axes
    assert len(ax.images) == 1 and len(ax.texts) == 4
    assert [label.get_text() for label in ax.get_xticklabels()] == ["image 0", "image 1"]


def test_plot_similarity_says_when_transposed(images):
    with pytest.raises(ValueError, match=r"similarity\.T"):
        plots.plot_similarity(np.zeros((4, 3)), images, ["a", "b", "c"])


@pytest.mark.parametrize("with_images", [False, True])
def test_plot_probs(images, with_images):
    labels = ["cat", "dog", "car", "plane", "ship", "frog"]
    probs = torch.softmax(torch.randn(4, len(labels)), dim=-1)  # [n_images, n_labels]
    fig = _draw(plots.plot_probs(probs, labels, images if with_images else None, top_k=3,
                                 titles=["one", "two", "three", "four"]))
    per_image = 2 if with_images else 1
    assert len(fig.axes) == 4 * per_image
    bar_axes = fig.axes[per_image - 1::per_image]
    for row, ax in enumerate(bar_axes):
        assert len(ax.patches) == 3
        assert len(ax.texts) == 3  # the value of each bar
        shown = [label.get_text() for label in ax.get_yticklabels()]
        best = [labels[i] for i in torch.argsort(probs[row], descending=True)[:3]]
        assert shown == best
    if with_images:
        assert all(len(ax.images) == 1 for ax in fig.axes[::2])


def test_plot_probs_one_image_and_small_top_k():
    fig = _draw(plots.plot_probs(np.array([0.2, 0.8]), ["a", "b"], top_k=5))
    (ax,) = fig.axes
    assert [label.get_text() for label in ax.get_yticklabels()] == ["b", "a"]


def test_plot_probs_checks_labels():
    with pytest.raises(ValueError, match="labels"):
        plots.plot_probs(np.ones((2, 3)) / 3, ["a", "b"])


@pytest.mark.parametrize("ncols, n_rows", [(4, 1), (3, 2), (10, 1)])
def test_image_grid(images, ncols, n_rows):
    titles = ["first", "a rather long title that should be wrapped", 3.5, "last"]
    fig = _draw(plots.image_grid(images, titles, ncols=ncols, title="grid"))
    assert len(fig.axes) == len(images)
    assert [ax.get_title().replace("\n", " ") for ax in fig.axes] == [str(t) for t in titles]
    assert all(len(ax.images) == 1 for ax in fig.axes)
    assert fig.axes[0].get_gridspec().nrows == n_rows


def test_image_grid_takes_arrays_and_tensors(images):
    grid = [
        np.zeros((8, 8), dtype=np.uint8),
        torch.rand(3, 8, 12),  # [C, H, W], e.g. a tensor before normalisation
        images[0],
    ]
    fig = _draw(plots.image_grid(grid))
    assert len(fig.axes) == 3
    assert fig.axes[1].images[0].get_array().shape[:2] == (8, 12)
    assert images[0].size == (32, 24)  # inputs are not shrunk in place


@pytest.mark.parametrize("with_images", [False, True])
def test_plot_embedding_map(images, with_images):
    features = torch.randn(4, 16)  # [n, embed_dim]
    labels = ["cat", "dog", "cat", "car"]
    fig = _draw(plots.plot_embedding_map(features, labels, images if with_images else None))
    (ax,) = fig.axes
    assert len(ax.collections) == 3  # one scatter per distinct label
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["cat", "dog", "car"]
    thumbnails = [artist for artist in ax.artists if isinstance(artist, AnnotationBbox)]
    assert len(thumbnails) == (4 if with_images else 0)
    assert "PC 1" in ax.get_xlabel() and "PC 2" in ax.get_ylabel()


def test_embedding_map_pca_is_deterministic_and_centred():
    features = np.random.default_rng(2).normal(size=(10, 8))
    first = plots.plot_embedding_map(features).axes[0].collections[0].get_offsets()
    second = plots.plot_embedding_map(-features[:, ::-1] * 3).axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(np.asarray(first).mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(np.abs(first), np.abs(second), atol=1e-9)  # same up to sign


def test_embedding_map_without_pca_and_bad_method():
    coords = np.array([[0.0, 1.0], [2.0, 3.0]])
    ax = plots.plot_embedding_map(coords, method="none").axes[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), coords)
    with pytest.raises(ValueError, match="pca"):
        plots.plot_embedding_map(coords, method="tsne")


def test_plot_histograms():
    similarity = torch.rand(5, 5)  # [n, n], matched pairs on the diagonal
    matched = similarity.diagonal()
    unmatched = similarity[~torch.eye(5, dtype=torch.bool)]
    fig = _draw(plots.plot_histograms(matched, unmatched, bins=10))
    (ax,) = fig.axes
    assert len(ax.patches) == 2 * 10
    assert len(ax.lines) == 2  # the two means
    assert len(ax.get_legend().get_texts()) == 2


@pytest.mark.parametrize(
    "curves, smooth, n_lines, has_legend",
    [
        (np.linspace(2, 0.1, 50), 1, 1, False),
        ([3.0, 2.0, 1.0], 10, 1, False),  # too short to smooth
        ({"train": torch.linspace(2, 0.1, 50), "test": list(np.linspace(2, 0.3, 40))}, 5, 4, True),
    ],
)
def test_plot_curve(curves, smooth, n_lines, has_legend):
    fig = _draw(plots.plot_curve(curves, smooth=smooth, logy=True))
    (ax,) = fig.axes
    assert len(ax.lines) == n_lines
    assert (ax.get_legend() is not None) == has_legend
    assert ax.get_yscale() == "log"


def test_plot_accuracy_by_group():
    table = {
        "bare": {"photo": 0.5, "sketch": (0.4, 0.05)},
        "one template": {"photo": (0.9, 0.02), "sketch": {"accuracy": 0.7, "se": 0.04},
                         "blurry": (0.6, 0.05)},
        "ensemble": {"blurry": (0.8, 0.03), "photo": (0.95, 0.01)},
    }
    fig = _draw(plots.plot_accuracy_by_group(table, n_se=2, chance=1 / 24, title="per style"))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["photo", "sketch", "blurry"]
    assert len(ax.containers) == 3  # one errorbar series per text side
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["bare", "one template", "ensemble", "chance"]
    # each point sits over its group's tick, at its accuracy, with a bar of n_se errors
    line, _, (bars,) = ax.containers[1].lines
    xs, ys = line.get_data()
    assert [round(x) for x in xs] == [0, 1, 2]
    np.testing.assert_allclose(np.asarray(ys, dtype=float), [0.9, 0.7, 0.6])
    segments = bars.get_segments()
    np.testing.assert_allclose([s[1][1] - s[0][1] for s in segments], [0.08, 0.16, 0.2])
    ens_xs, _ = ax.containers[2].lines[0].get_data()
    assert [round(x) for x in ens_xs] == [2, 0]  # a side may skip a group
    assert "2 standard errors" in ax.get_ylabel()
    assert ax.get_title() == "per style"


def test_plot_accuracy_by_group_needs_data():
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_accuracy_by_group({})
    with pytest.raises(ValueError, match="at least one"):
        plots.plot_accuracy_by_group({"a": {}})


def test_image_grid_marks_right_and_wrong(images):
    fig = _draw(plots.image_grid(images[:3], ["a", "b", "c"], correct=[True, False, True]))
    titles = [ax.get_title() for ax in fig.axes]
    assert [t[0] for t in titles] == ["✓", "✗", "✓"]
    frames = [[p for p in ax.patches if not p.get_fill()] for ax in fig.axes]
    assert all(len(f) == 1 for f in frames)
    assert frames[0][0].get_edgecolor() != frames[1][0].get_edgecolor()
    assert plots.image_grid(images[:1], correct=[False]).axes[0].get_title() == "✗"
    with pytest.raises(ValueError, match="right/wrong"):
        plots.image_grid(images[:2], correct=[True])


def test_plot_curve_references_stretch_the_axis_and_keep_the_legend_off_the_curves():
    values = np.linspace(14.3, 14.0, 100)  # a tiny drift, as lesson 06's scale
    fig = _draw(plots.plot_curve({"scale": values}, references={"bundled": 30.0, "cap": 100}))
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scale", "bundled", "cap"]
    low, high = ax.get_ylim()
    assert low <= 14.0 and high >= 100  # the drift is shown against the references
    legend_box = ax.get_legend().get_window_extent()
    axes_box = ax.get_window_extent()
    assert legend_box.x0 >= axes_box.x1  # the legend sits beside the axes, never on a curve
    assert plots.plot_curve(values, references={"cap": 100}).axes[0].get_legend() is not None
