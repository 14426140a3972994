"""The conditional DCGAN end to end at a tiny size: the label reaches G and D, checkpoints record the kind,
`tinygan sample --digit` / `--walk-digits` obey it, and every kind of bad input is one line with exit 2.

At this size the digits are noise, so the judge's accuracy is not the point: the checks are
mechanical -- the same z with another label gives another image, the images written are G's.
"""
import numpy as np
import pytest
from PIL import Image

import tinygan
from helpers import TINY_TRAIN, assert_one_line_error
from tinygan.cli import main
from tinygan.latent import FRAMES_PER_SEGMENT, draw
from tinygan.models import Discriminator, Generator
from tinygan.train import RunError, generator_from_checkpoint, read_checkpoint


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("conditional")
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--conditional", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("plain")
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--out", str(out)]) == 0
    return out


def test_the_label_reaches_both_networks():
    tinygan.manual_seed(0)
    G, D = Generator(nz=4, ngf=4, num_classes=10).eval(), Discriminator(ndf=4, num_classes=10).eval()
    z = tinygan.randn(3, 4)
    sevens, threes = G(z, np.full(3, 7)).data, G(z, np.full(3, 3)).data
    assert not np.allclose(sevens, threes)
    images = tinygan.tensor(sevens)
    assert not np.allclose(D(images, np.full(3, 7)).data, D(images, np.full(3, 3)).data)
    with pytest.raises(ValueError, match="Generator: a conditional model .* needs the labels"):
        G(z)
    with pytest.raises(ValueError, match=r"Discriminator: labels must be in 0..9, got 3..10"):
        D(images, np.array([3, 10, 4]))
    with pytest.raises(ValueError, match="Generator: labels were given to an unconditional model"):
        Generator(nz=4, ngf=4)(z, np.zeros(3, dtype=int))


def test_checkpoint_records_the_kind_and_its_structure_is_checked(conditional_run, tmp_path):
    state = read_checkpoint(conditional_run)
    assert state["config"]["conditional"] is True
    assert state["generator"]["label_embedding.weight"].shape == (10, 10)
    assert state["discriminator"]["main.0.weight"].shape[1] == 1 + 10  # the pixels and ten label planes
    # The same weights under a config claiming an unconditional run do not pass the structure check.
    state["config"]["conditional"] = False
    tinygan.save(state, tmp_path / "lying.npz")
    with pytest.raises(RunError, match="unexpected.*label_embedding.weight"):
        read_checkpoint(tmp_path / "lying.npz")


def test_sample_digit_draws_g_of_that_label(conditional_run, tmp_path):
    generator, _ = generator_from_checkpoint(conditional_run)
    for digit in (7, 3):
        assert main(["sample", str(conditional_run), "--digit", str(digit), "--n", "6", "--seed", "2",
                     "--out", str(tmp_path / f"{digit}.npy")]) == 0
        z = np.random.default_rng(2).standard_normal((6, generator.nz, 1, 1)).astype(np.float32)
        # allclose, not equal: a GEMM may round differently for another batch size.
        np.testing.assert_allclose(np.load(tmp_path / f"{digit}.npy"), draw(generator, z, np.full(6, digit)),
                                   rtol=1e-4, atol=1e-7)
    # The same noise, another label: other images.
    assert not np.allclose(np.load(tmp_path / "7.npy"), np.load(tmp_path / "3.npy"))


def test_digit_all_draws_one_row_per_digit_with_the_same_noise_down_each_column(conditional_run, tmp_path):
    assert main(["sample", str(conditional_run), "--digit", "all", "--nrow", "4", "--out", str(tmp_path / "a.npy")]) == 0
    rows = np.load(tmp_path / "a.npy").reshape(10, 4, 1, 28, 28)
    generator, _ = generator_from_checkpoint(conditional_run)
    z = np.random.default_rng(0).standard_normal((4, generator.nz))
    for digit in (0, 9):
        np.testing.assert_allclose(rows[digit], draw(generator, z, np.full(4, digit)), rtol=1e-4, atol=1e-7)
    assert main(["sample", str(conditional_run), "--digit", "all", "--nrow", "4", "--out", str(tmp_path / "a.png")]) == 0
    with Image.open(tmp_path / "a.png") as image:
        assert image.size == (2 * (4 * 30 + 2), 2 * (10 * 30 + 2))


def gif_frames(path) -> int:
    with Image.open(path) as image:
        return image.n_frames


def test_walk_gifs_have_the_frames_asked_for(conditional_run, plain_run, tmp_path):
    assert main(["sample", str(plain_run), "--walk", "3", "--n", "4", "--out", str(tmp_path / "w.gif")]) == 0
    assert gif_frames(tmp_path / "w.gif") == 3 * FRAMES_PER_SEGMENT
    assert main(["sample", str(conditional_run), "--walk", "2", "--n", "4", "--out", str(tmp_path / "c.gif")]) == 0
    assert gif_frames(tmp_path / "c.gif") == 2 * FRAMES_PER_SEGMENT
    assert main(["sample", str(conditional_run), "--walk-digits", "--n", "4", "--out", str(tmp_path / "d.gif")]) == 0
    assert gif_frames(tmp_path / "d.gif") == 10


@pytest.mark.parametrize("digit", ["10", "-1", "seven", "7.5"])
def test_a_digit_outside_0_to_9_is_refused(conditional_run, tmp_path, capsys, digit):
    code = main(["sample", str(conditional_run), "--digit", digit, "--out", str(tmp_path / "x.png")])
    assert_one_line_error(capsys, code, "--digit", "a digit 0-9 or 'all'")


@pytest.mark.parametrize("option", [["--digit", "7"], ["--walk-digits"]])
def test_asking_an_unconditional_run_for_a_digit_is_refused(plain_run, tmp_path, capsys, option):
    out = tmp_path / ("x.gif" if option == ["--walk-digits"] else "x.png")
    code = main(["sample", str(plain_run), *option, "--out", str(out)])
    assert_one_line_error(capsys, code, option[0], "unconditional", "--conditional")
    assert not out.exists()


def test_resuming_with_the_other_kind_is_refused(conditional_run, plain_run, tmp_path, capsys):
    before = (plain_run / "checkpoint.npz").read_bytes()
    code = main(["train", "--resume", "--conditional", "--epochs", "2", "--no-progress", "--out", str(plain_run)])
    assert_one_line_error(capsys, code, "--conditional", "an unconditional run", "cannot change kind")
    code = main(["train", "--resume", "--no-conditional", "--epochs", "2", "--no-progress", "--out",
                 str(conditional_run)])
    assert_one_line_error(capsys, code, "--no-conditional", "a conditional run")
    assert (plain_run / "checkpoint.npz").read_bytes() == before


@pytest.mark.parametrize("options, fragment", [
    (["--walk", "2", "--out", "x.png"], "expected a .gif"),
    (["--out", "x.gif"], "a .gif needs --walk"),
    (["--walk", "2", "--walk-digits", "--out", "x.gif"], "give one of them"),
    (["--walk", "1", "--out", "x.gif"], "an integer >= 2"),
    (["--digit", "3", "--walk", "2", "--out", "x.gif"], "--digit is for pictures"),
    # the sizes are refused before anything is drawn: --digit all counts 10 digits a column,
    (["--digit", "all", "--nrow", "1001", "--out", "x.png"], "--digit all --nrow 1001 (10010 digits): a PNG grid"),
    # and a GIF's sides are 16-bit numbers (1100 digits in one column: 66,004 px high)
    (["--walk", "2", "--n", "1100", "--nrow", "1", "--out", "x.gif"], "64 x 66004 pixels, and a GIF holds at most"),
])
def test_contradictory_sample_options_are_one_line_errors(conditional_run, tmp_path, capsys, monkeypatch, options,
                                                         fragment):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(capsys, main(["sample", str(conditional_run), *options]), fragment)


def test_drawing_in_batches_gives_the_images_of_one_batch(conditional_run):
    generator, _ = generator_from_checkpoint(conditional_run)
    z = np.random.default_rng(0).standard_normal((23, generator.nz))
    labels = np.arange(23) % 10
    whole, batched = draw(generator, z, labels, batch_size=23), draw(generator, z, labels, batch_size=4)
    assert batched.shape == (23, 1, 28, 28)
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-5)  # each image's own labels, in order
    assert not np.allclose(draw(generator, z, labels[::-1].copy(), batch_size=4), whole, atol=1e-3)


# ---------------------------------------------------------------------- the projection discriminator
def test_the_projection_verdict_is_the_unconditional_logit_plus_the_label_vector_dotted_with_the_features():
    tinygan.manual_seed(0)
    D = Discriminator(ndf=4, num_classes=10, projection=True).eval()
    assert D.main[0].weight.shape[1] == 1  # no label planes: the label enters only at the end
    images = tinygan.randn(3, 1, 28, 28)
    labels = np.array([7, 0, 7])
    # By hand, from the layers' own outputs: h after the last LeakyReLU, the head's logit, V[y].h.
    h = images
    for index in range(5):
        h = D.main[index](h)
    head = D.main[5](h).data.reshape(-1).astype(np.float64)
    projected = np.einsum("nk,nk->n", D.label_projection.weight.data[labels].astype(np.float64),
                          h.data.reshape(3, -1).astype(np.float64))
    expected = 1 / (1 + np.exp(-(head + projected)))
    np.testing.assert_allclose(D(images, labels).data, expected, rtol=1e-5)
    assert not np.allclose(D(images, np.full(3, 3)).data, D(images, labels).data)


def test_the_projection_gradients_match_central_differences():
    tinygan.manual_seed(1)
    D = Discriminator(ndf=2, num_classes=3, projection=True).eval()
    labels = np.array([2, 0, 2])

    def verdicts(images, table):  # D with `table` in place of its label vectors
        D.label_projection.forward = lambda index: tinygan.functional.embedding(index, table)
        return D(images, labels)

    for module in D.modules():  # the whole network in float64 for the central differences
        for param in module._parameters.values():
            if param is not None:
                param.data = param.data.astype(np.float64)
        for name, buffer in list(module._buffers.items()):
            if buffer is not None and buffer.dtype.kind == "f":
                module._buffers[name] = buffer.astype(np.float64)
    table = tinygan.tensor(np.random.default_rng(0).normal(0, 0.1, (3, 2 * 2 * 7 * 7)), requires_grad=True)
    images = tinygan.tensor(np.random.default_rng(1).standard_normal((3, 1, 28, 28)), requires_grad=True)
    assert tinygan.gradcheck(verdicts, [images, table])
    verdicts(images, table).sum().backward()
    assert np.count_nonzero(table.grad[[0, 2]]) > 0 and not table.grad[1].any()  # rows of the labels used, only


def test_projection_is_a_kind_of_conditional_run_that_resumes_only_as_itself(tmp_path, capsys):
    with pytest.raises(RunError, match="--projection: .*add --conditional"):
        tinygan.train.TrainConfig(projection=True)
    out = tmp_path / "projection"
    assert main(["train", *TINY_TRAIN, "--epochs", "1", "--conditional", "--projection", "--out", str(out)]) == 0
    state = read_checkpoint(out)
    assert state["config"]["projection"] is True
    assert state["discriminator"]["label_projection.weight"].shape[0] == 10
    assert main(["sample", str(out), "--digit", "4", "--n", "4", "--out", str(tmp_path / "fours.png")]) == 0
    code = main(["train", "--resume", "--no-projection", "--epochs", "2", "--no-progress", "--out", str(out)])
    assert_one_line_error(capsys, code, "--no-projection", "a projection discriminator's run", "cannot change kind")
