import numpy as np
import pytest

from deeptutorial.plotting import PALETTE, line_plot, scatter_plot


def count_colour(image, colour):
    return int(np.all(image == np.array(colour, dtype=np.uint8), axis=-1).sum())


def test_scatter_plot_is_an_rgb_image_with_the_points():
    rng = np.random.RandomState(0)
    image = scatter_plot(rng.normal(size=(50, 2)), title="codings", xlabel="z1", ylabel="z2")
    assert image.dtype == np.uint8 and image.shape == (360, 480, 3)
    assert count_colour(image, PALETTE[0]) > 50  # the dots
    assert count_colour(image, (0, 0, 0)) > 100  # frame, ticks, text
    assert count_colour(image, PALETTE[1]) == 0  # one colour without labels


def test_scatter_plot_colours_by_label_and_by_rgb():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    by_label = scatter_plot(points, colors=[3, 7, 3], size=(200, 150))
    assert by_label.shape == (150, 200, 3)
    assert count_colour(by_label, PALETTE[0]) > 0 and count_colour(by_label, PALETTE[1]) > 0
    by_rgb = scatter_plot(points, colors=np.array([[250, 0, 0]] * 3))
    assert count_colour(by_rgb, (250, 0, 0)) > 0


def test_scatter_plot_draws_background_points_in_grey_under_the_points():
    rng = np.random.RandomState(1)
    points = rng.normal(size=(20, 2))
    grey = (209, 209, 209)
    plain = scatter_plot(points, colors=rng.randint(0, 3, size=20))
    over = scatter_plot(points, colors=rng.randint(0, 3, size=20),
                        background=rng.normal(scale=3, size=(400, 2)))
    assert count_colour(over, grey) > count_colour(plain, grey) + 500
    with pytest.raises(ValueError, match="background"):
        scatter_plot(points, background=np.zeros((3, 3)))


def test_line_plot_draws_each_series_and_a_legend():
    xs = np.arange(10)
    image = line_plot(xs, {"kl": xs ** 2, "mse": np.sqrt(xs)}, title="t", xlabel="epoch",
                      ylabel="loss", size=(320, 240))
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert count_colour(image, PALETTE[0]) > 50 and count_colour(image, PALETTE[1]) > 50


def test_line_plot_handles_a_single_point_constant_values_and_nans():
    assert line_plot([0], {"a": [1.0]}).shape == (360, 480, 3)
    assert line_plot([0, 1, 2], {"a": [2.0, 2.0, 2.0]}).shape == (360, 480, 3)
    # A NaN leaves a gap: fewer line pixels than the same series with the NaN filled in, and
    # more than the series cut to its last two points. (Broken by dropping the NaN points
    # before plotting, which joins their neighbours.)
    xs = np.arange(12.0)
    ys = np.sin(xs)
    gapped = ys.copy()
    gapped[4:7] = np.nan
    line = lambda image: count_colour(image, PALETTE[0])  # noqa: E731
    with_gap = line(line_plot(xs, {"a": gapped}))
    joined = line(line_plot(np.delete(xs, [4, 5, 6]), {"a": np.delete(ys, [4, 5, 6])}))
    assert with_gap < 0.85 * joined


@pytest.mark.parametrize("call, word", [
    (lambda: scatter_plot(np.zeros((4, 3))), "(4, 3)"),
    (lambda: scatter_plot(np.zeros((2, 2)), size=(10, 10)), "(10, 10)"),
    (lambda: scatter_plot(np.zeros((2, 2)), colors=[1.5, 2.5, 3.5]), "(3,)"),
    (lambda: line_plot([0, 1], {"a": [1, 2, 3]}), "'a'"),
    (lambda: line_plot([0, 1], {}), "series"),
])
def test_bad_arguments_raise_value_error_naming_the_value(call, word):
    with pytest.raises(ValueError, match=None) as info:
        call()
    assert word in str(info.value)


def test_pictures_show_in_a_notebook_as_the_pixels_they_are():
    """The image helpers return arrays a notebook displays (``_repr_png_``): the PNG decodes
    to the same pixels, and the array is still an array. (Broken by returning plain arrays: a
    notebook then prints numbers instead of the image.)"""
    import io

    from PIL import Image

    from deeptutorial.utils import Picture, filters_image, side_by_side

    W = np.random.RandomState(0).uniform(-1, 1, (784, 100)).astype(np.float32)
    pictures = [filters_image(W), side_by_side([filters_image(W)] * 2),
                line_plot([0, 1, 2], {"a": [3.0, 2.0, 1.0]})]
    for picture in pictures:
        assert isinstance(picture, Picture) and picture.dtype == np.uint8
        decoded = np.asarray(Image.open(io.BytesIO(picture._repr_png_())))
        np.testing.assert_array_equal(decoded, np.asarray(picture))


def test_a_graph_picture_without_graphviz_is_one_line_not_an_error(monkeypatch, capsys):
    import shutil

    import pytensor.tensor as pt

    from deeptutorial import plotting

    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert plotting.graph_picture(pt.exp(pt.vector("x"))) is None
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [plotting.GRAPHVIZ_MISSING]
    assert "pip install pydot" in lines[0] and "graphviz" in lines[0]


def test_a_graph_picture_is_drawn_where_graphviz_is_installed(tmp_path):
    import shutil

    import pytensor
    import pytensor.tensor as pt

    from deeptutorial import plotting
    from deeptutorial.utils import Picture

    pytest.importorskip("pydot")
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed")
    x = pt.vector("x")
    for graph in (pt.exp(x).sum(), pytensor.function([x], pt.exp(x).sum())):
        picture = plotting.graph_picture(graph, path=str(tmp_path / "graph.png"))
        assert isinstance(picture, Picture) and picture.ndim == 3 and min(picture.shape[:2]) > 50
        assert (tmp_path / "graph.png").stat().st_size > 1000
