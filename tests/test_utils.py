import numpy as np
import pytest

from deeptutorial import scale_to_unit_interval, tile_raster_images


def test_scale_to_unit_interval():
    out = scale_to_unit_interval(np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0], atol=1e-7)


def test_tiles_are_placed_row_by_row_with_spacing():
    X = np.arange(6 * 4, dtype=float).reshape(6, 4)  # six 2x2 images
    out = tile_raster_images(X, img_shape=(2, 2), tile_shape=(2, 3), tile_spacing=(1, 2),
                             scale_rows_to_unit_interval=False, output_pixel_vals=False)
    assert out.shape == (2 * 2 + 1, 3 * 2 + 2 * 2)
    np.testing.assert_array_equal(out[0:2, 0:2], X[0].reshape(2, 2))
    np.testing.assert_array_equal(out[0:2, 4:6], X[1].reshape(2, 2))
    np.testing.assert_array_equal(out[3:5, 8:10], X[5].reshape(2, 2))
    assert not out[2, :].any() and not out[:, 2:4].any()  # the spacing stays black


def test_rows_are_scaled_each_to_unit_interval_and_output_is_uint8():
    X = np.array([[0.0, 1.0, 2.0, 3.0], [10.0, 10.0, 10.0, 30.0]])
    out = tile_raster_images(X, img_shape=(2, 2), tile_shape=(1, 2))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :2].ravel(), [0, 84, 169, 254])
    np.testing.assert_array_equal(out[:, 2:].ravel(), [0, 0, 0, 254])


def test_missing_images_leave_tiles_black():
    out = tile_raster_images(np.ones((1, 4)), (2, 2), (2, 2), scale_rows_to_unit_interval=False)
    assert out[:2, :2].min() == 255 and out[2:, :].max() == 0 and out[:, 2:].max() == 0


def test_four_channel_tuple_with_none_channels():
    red = np.array([[0.0, 1.0, 2.0, 3.0]])
    out = tile_raster_images((red, None, red, None), (2, 2), (1, 1))
    assert out.shape == (2, 2, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0].ravel(), [0, 84, 169, 254])
    assert not out[..., 1].any()  # missing colour: black
    assert (out[..., 3] == 255).all()  # missing alpha: opaque
    floats = tile_raster_images((red, None, None, None), (2, 2), (1, 1), output_pixel_vals=False)
    assert floats.dtype == np.float64 and (floats[..., 3] == 1).all()


@pytest.mark.parametrize("X, img_shape, tile_shape, word", [
    (np.zeros((3, 5)), (2, 2), (1, 3), "(3, 5)"),
    (np.zeros((3, 4)), (2, 2), (0, 3), "(0, 3)"),
    (np.zeros(4), (2, 2), (1, 1), "(4,)"),
    ((np.zeros((1, 4)),), (2, 2), (1, 1), "4 channels"),
])
def test_shapes_that_do_not_fit_are_named(X, img_shape, tile_shape, word):
    with pytest.raises(ValueError) as info:
        tile_raster_images(X, img_shape, tile_shape)
    assert word in str(info.value)
