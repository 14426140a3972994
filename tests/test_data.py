"""Tests for tinygan.data: IDX files, the bundled digits, and the DataLoader."""
import gzip

import numpy as np
import pytest

from tinygan.data import DataLoader, load_bundled_mnist, load_mnist, read_idx, split_bundled, write_idx
from tinygan.data.idx import encode_idx


def random_digits(n, seed=0):
    """Fake MNIST: n random 28x28 uint8 images and labels 0..9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_mnist_folder(folder, images, labels, train=True, gz=False):
    prefix = "train" if train else "t10k"
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)


# ------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("name", ["array.idx", "array.idx.gz"])
@pytest.mark.parametrize("dtype, shape", [
    (np.uint8, (7, 28, 28)), (np.uint8, (5,)), (np.int8, (2, 3)), (np.int16, (4, 2)),
    (np.int32, (3,)), (np.float32, (2, 2, 2, 2)), (np.float64, (1, 6)),
])
def test_idx_round_trip(tmp_path, name, dtype, shape):
    array = (np.arange(np.prod(shape)) % 100 - 50 * (dtype != np.uint8)).astype(dtype).reshape(shape)
    path = write_idx(tmp_path / name, array)
    loaded = read_idx(path)
    assert loaded.dtype == np.dtype(dtype).newbyteorder("=") and loaded.shape == shape
    np.testing.assert_array_equal(loaded, array)
    assert loaded.flags.writeable


def test_idx_header_is_standard_and_gz_is_really_gzip(tmp_path):
    images, _ = random_digits(3)
    assert encode_idx(images)[:16] == bytes.fromhex("00000803" "00000003" "0000001c" "0000001c")
    write_idx(tmp_path / "x.gz", images)
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == encode_idx(images)


def test_multibyte_values_are_big_endian_on_disk():
    assert encode_idx(np.array([1], dtype=np.int32))[8:] == b"\x00\x00\x00\x01"


def test_gz_detected_by_content_not_name(tmp_path):
    images, _ = random_digits(2)
    (tmp_path / "no_suffix").write_bytes(gzip.compress(encode_idx(images)))
    np.testing.assert_array_equal(read_idx(tmp_path / "no_suffix"), images)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.uint16))


def corrupt(data: bytes, how: str) -> bytes:
    """Damage a valid IDX file of MNIST-like images in one particular way."""
    return {
        "bad magic": b"\x12\x34" + data[2:],
        "unknown dtype code": data[:2] + b"\x07" + data[3:],
        "truncated data": data[:-10],
        "truncated header": data[:9],
        "tiny file": data[:2],
        "extra bytes": data + b"\x00" * 5,
        "zero dims": data[:3] + b"\x00",
    }[how]


@pytest.mark.parametrize("how, message", [
    ("bad magic", "two zero bytes, found 0x12340803"),
    ("unknown dtype code", "dtype code .* found 0x07"),
    ("truncated data", "truncated: 10 bytes missing"),
    ("truncated header", "expected a 16-byte header .* found only 9 bytes"),
    ("tiny file", "at least a 4-byte IDX magic number, found a 2-byte file"),
    ("extra bytes", "5 unexpected extra bytes"),
    ("zero dims", "at least one dimension"),
])
def test_corrupt_idx_raises_value_error_naming_file(tmp_path, how, message):
    images, _ = random_digits(4)
    path = tmp_path / "broken-idx3-ubyte"
    path.write_bytes(corrupt(encode_idx(images), how))
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_raises_value_error(tmp_path):
    images, _ = random_digits(20)
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(encode_idx(images))[:-30])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_checks_expected_dtype_and_ndim(tmp_path):
    path = write_idx(tmp_path / "f.idx", np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected magic number 0x00000803 \(uint8, 3 dimensions\), "
                                         r"found 0x00000D02 \(float32, 2 dimensions\)"):
        read_idx(path, dtype=np.uint8, ndim=3)


# ------------------------------------------------------------------------- load_mnist


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_load_mnist_from_folder(tmp_path, gz, train):
    images, labels = random_digits(12)
    write_mnist_folder(tmp_path, images, labels, train=train, gz=gz)
    loaded_images, loaded_labels = load_mnist(tmp_path, train=train)
    assert loaded_images.dtype == np.uint8 and loaded_labels.dtype == np.uint8
    np.testing.assert_array_equal(loaded_images, images)
    np.testing.assert_array_equal(loaded_labels, labels)


def test_load_mnist_missing_files_lists_names_tried(tmp_path):
    images, labels = random_digits(3)
    write_mnist_folder(tmp_path, images, labels, train=True)
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(tmp_path, train=False)
    assert "'t10k-images-idx3-ubyte' or 't10k-images-idx3-ubyte.gz'" in str(info.value)
    with pytest.raises(FileNotFoundError, match="no directory"):
        load_mnist(tmp_path / "nowhere")


def test_load_mnist_count_mismatch(tmp_path):
    images, labels = random_digits(10)
    write_mnist_folder(tmp_path, images, labels[:9])
    with pytest.raises(ValueError, match="found 10 images in .* but 9 labels in"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_wrong_kind_of_file(tmp_path):
    images, labels = random_digits(5)
    write_mnist_folder(tmp_path, images, labels)
    write_idx(tmp_path / "train-images-idx3-ubyte", images.astype(np.float32))  # right name, wrong dtype
    with pytest.raises(ValueError, match="expected magic number 0x00000803"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", images[:, :14])
    with pytest.raises(ValueError, match="expected 28x28 images, found 14x28"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", images)
    write_idx(tmp_path / "train-labels-idx1-ubyte", labels + 10)
    with pytest.raises(ValueError, match="labels 0..9"):
        load_mnist(tmp_path)


# ----------------------------------------------------------------------- bundled data


def as_sorted_rows(images):
    """The images as a sorted list of byte strings, to compare collections ignoring order."""
    return sorted(map(bytes, images.reshape(len(images), -1)))


@pytest.fixture(scope="module")
def bundled():
    return load_bundled_mnist()


def test_bundled_digits_look_like_mnist(bundled):
    images, labels = bundled
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [500] * 10
    assert images.min() == 0 and images.max() == 255
    assert 28 < images.mean() < 38  # MNIST's mean pixel is about 33
    assert (images[:, 0, :] == 0).mean() > 0.95  # the border is background
    assert (images.reshape(5000, -1) > 128).sum(axis=1).min() > 10  # every digit has ink


def test_split_bundled_is_stratified_disjoint_and_deterministic(bundled):
    (train_x, train_y), (held_x, held_y) = split_bundled(holdout=1000, seed=0)
    assert train_x.shape == (4000, 28, 28) and held_x.shape == (1000, 28, 28)
    assert np.bincount(held_y, minlength=10).tolist() == [100] * 10
    assert len(set(held_y[:50].tolist())) > 5  # shuffled, not sorted by digit
    # Together the two parts hold exactly the bundled digits, each once.
    assert as_sorted_rows(np.concatenate([train_x, held_x])) == as_sorted_rows(bundled[0])
    (again_x, _), (again_held_x, _) = split_bundled(holdout=1000, seed=0)
    np.testing.assert_array_equal(again_held_x, held_x)
    (_, _), (other_held_x, _) = split_bundled(holdout=1000, seed=1)
    assert not np.array_equal(other_held_x, held_x)
    with pytest.raises(ValueError, match="multiple of 10"):
        split_bundled(holdout=15)


# ------------------------------------------------------------------------- DataLoader


def test_loader_batches_shape_dtype_and_range(bundled):
    images, _ = bundled
    loader = DataLoader(images, batch_size=64, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) == 5000 // 64
    for batch in batches:
        assert batch.shape == (64, 1, 28, 28) and batch.dtype == np.float32
        assert batch.min() >= -1.0 and batch.max() <= 1.0
    assert batches[0].min() == -1.0 and max(b.max() for b in batches) == 1.0
    np.testing.assert_allclose(batches[0].mean(), images.mean() / 127.5 - 1, atol=0.1)


def test_loader_scaling_is_exact():
    images = np.array([[[0, 255], [127, 128]]], dtype=np.uint8)
    (batch,) = DataLoader(images, batch_size=1, shuffle=False)
    assert batch[0, 0, 0].tolist() == [-1.0, 1.0]  # the endpoints are exact
    np.testing.assert_allclose(batch[0, 0], np.array([[0, 255], [127, 128]]) / 127.5 - 1, rtol=0, atol=1e-6)


def test_loader_with_labels_yields_matching_pairs():
    images, labels = random_digits(50)
    loader = DataLoader(images, labels=labels, batch_size=8, seed=3)
    for batch, batch_labels in loader:
        assert batch_labels.shape == (8,) and batch_labels.dtype == np.int64
        # Each image must travel with its own label: find it back in the source.
        for image, label in zip(to_pixels(batch), batch_labels):
            source_index = np.flatnonzero((image[0] == images).all(axis=(1, 2)))[0]
            assert labels[source_index] == label


def to_pixels(batch):
    """Undo the loader's scaling: float32 in [-1, 1] back to uint8 pixels."""
    return np.rint((batch + 1) * 127.5).astype(np.uint8)


def numbered_images(n):
    """n tiny images, image i filled with the value i, so a batch tells which images it holds."""
    return np.arange(n, dtype=np.uint8)[:, None, None].repeat(2, axis=1).repeat(2, axis=2)


def image_numbers(batch):
    return to_pixels(batch)[:, 0, 0, 0].tolist()


def test_drop_last():
    images, _ = random_digits(10)
    assert len(DataLoader(images, batch_size=4)) == 2
    kept = DataLoader(images, batch_size=4, drop_last=False)
    assert len(kept) == 3 and [len(b) for b in kept] == [4, 4, 2]
    with pytest.raises(ValueError, match="no batch"):
        DataLoader(images, batch_size=11)


def test_every_image_once_per_epoch():
    loader = DataLoader(numbered_images(37), batch_size=5, drop_last=False, seed=0)
    orders = []
    for _ in range(3):
        seen = [number for batch in loader for number in image_numbers(batch)]
        assert sorted(seen) == list(range(37))
        orders.append(seen)
    assert orders[0] != orders[1] != orders[2]  # a new order each epoch


def test_drop_last_epoch_has_no_repeats():
    loader = DataLoader(numbered_images(37), batch_size=5, seed=0)
    seen = [number for batch in loader for number in image_numbers(batch)]
    assert len(seen) == 35 == len(set(seen))


def test_no_shuffle_keeps_order():
    loader = DataLoader(numbered_images(6), batch_size=3, shuffle=False)
    for _ in range(2):
        assert [image_numbers(batch) for batch in loader] == [[0, 1, 2], [3, 4, 5]]


def first_batches(loader, epochs):
    return [next(iter(loader)) for _ in range(epochs)]


def test_seeded_loaders_reproduce_and_resume(bundled):
    images, _ = bundled
    a, b = DataLoader(images, seed=42), DataLoader(images, seed=42)
    for batch_a, batch_b in zip(first_batches(a, 3), first_batches(b, 3)):
        np.testing.assert_array_equal(batch_a, batch_b)
    assert not np.array_equal(next(iter(DataLoader(images, seed=43))), first_batches(DataLoader(images, seed=42), 1)[0])
    assert DataLoader(images).seed != DataLoader(images).seed  # seed=None draws fresh entropy

    # Resume: a fresh loader restored from a checkpoint continues the same epochs.
    original = DataLoader(images, seed=None)
    first_batches(original, 2)
    checkpoint = original.state_dict()
    expected = first_batches(original, 2)
    resumed = DataLoader(images)
    resumed.load_state_dict(checkpoint)
    for got, want in zip(first_batches(resumed, 2), expected):
        np.testing.assert_array_equal(got, want)


def test_set_epoch_replays_an_epoch():
    images, _ = random_digits(20)
    loader = DataLoader(images, batch_size=4, seed=1)
    first = list(loader)
    loader.set_epoch(0)
    for got, want in zip(loader, first):
        np.testing.assert_array_equal(got, want)
    assert loader.epoch == 1


def test_rank4_images_keep_their_channels():
    images = np.zeros((6, 3, 5, 5), dtype=np.uint8)
    assert next(iter(DataLoader(images, batch_size=2))).shape == (2, 3, 5, 5)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(batch_size=0), ValueError, "batch_size must be a positive int, got 0"),
    (dict(batch_size=2.0), TypeError, "batch_size must be a positive int, got float"),
    (dict(batch_size=True), TypeError, "batch_size"),
    (dict(shuffle="yes"), TypeError, "shuffle must be True or False"),
    (dict(seed=-1), ValueError, "seed must be a non-negative int"),
    (dict(labels=np.zeros(3, dtype=np.int64)), ValueError, r"labels must have shape \(10,\)"),
    (dict(labels=np.zeros(10, dtype=np.float32)), TypeError, "labels must be integers"),
])
def test_loader_argument_validation(kwargs, error, message):
    images, _ = random_digits(10)
    with pytest.raises(error, match=message):
        DataLoader(images, **kwargs)


@pytest.mark.parametrize("images, error, message", [
    (np.zeros((4, 28, 28), dtype=np.float32), TypeError, "images must have dtype uint8.*got float32"),
    ([[[0]]], TypeError, "images must be a numpy array, got list"),
    (np.zeros((4, 784), dtype=np.uint8), ValueError, r"images must have rank 3 .* got shape \(4, 784\)"),
    (np.zeros((0, 28, 28), dtype=np.uint8), ValueError, "at least one image"),
])
def test_loader_rejects_bad_images(images, error, message):
    with pytest.raises(error, match=message):
        DataLoader(images, batch_size=1)
