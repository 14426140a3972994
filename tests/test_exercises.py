"""The exercise notebooks and the hints behind them (tinygan/exercises.py).

Every notebook is executed twice with nbclient, in a real Jupyter kernel (ipykernel's python3,
the interpreter running these tests, importing this checkout's tinygan):
  - as shipped: each check cell fails with the "fill in" hint (an ExerciseFailed, not a bare
    AssertionError), and every other cell runs;
  - with each cell to fill in replaced by its reference answer from exercises/solutions/:
    every cell runs and every check prints OK.
The hint module is tested on its own with deliberately wrong answers, one per kind of hint.
"""
from __future__ import annotations

import ast
import importlib.util
import os
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import tinygan as tg
import tinygan.functional as F
from tinygan import exercises as ex

ROOT = Path(__file__).resolve().parents[1]
EXERCISES = ROOT / "exercises"
NOTEBOOKS = sorted(EXERCISES.glob("[0-9]*.ipynb"))
WHICH_TINYGAN = "import tinygan\nprint(tinygan.__file__)"


def _load_builder():
    spec = importlib.util.spec_from_file_location("make_exercises", ROOT / "scripts" / "make_exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tagged(notebook, tag: str) -> list:
    return [cell for cell in notebook.cells if tag in cell.metadata.get("tags", [])]


def _functions(source: str) -> dict:
    """name -> source text of every top-level function defined in `source`."""
    tree = ast.parse(source)
    return {node.name: ast.get_source_segment(source, node) for node in tree.body if isinstance(node, ast.FunctionDef)}


def _solution_path(notebook_path: Path) -> Path:
    topic = notebook_path.stem.split("_", 1)[1]  # 03_conv2d_backward -> conv2d_backward
    return EXERCISES / "solutions" / f"{topic}.py"


def _fill_in_solutions(notebook, notebook_path: Path) -> None:
    """Replace every cell to fill in by the reference answers of the functions it defines."""
    solutions = _functions(_solution_path(notebook_path).read_text())
    for cell in _tagged(notebook, "exercise"):
        names = list(_functions(cell.source))
        assert names, f"an exercise cell of {notebook_path.name} defines no function"
        cell.source = "\n\n\n".join(solutions[name] for name in names)


def _execute(notebook, allow_errors: bool):
    """Run the notebook in a fresh kernel started in exercises/, with this checkout's tinygan first on the path."""
    notebook.cells.insert(0, nbformat.v4.new_code_cell(WHICH_TINYGAN))
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(EXERCISES)}})
    client.execute(env={**os.environ, "PYTHONPATH": path})
    imported = "".join(output.get("text", "") for output in notebook.cells[0].outputs).strip()
    assert Path(imported).resolve().is_relative_to(ROOT / "tinygan"), f"the kernel imported {imported}"
    return notebook


def _errors(cell) -> list:
    return [output for output in cell.get("outputs", []) if output.output_type == "error"]


def _text(cell) -> str:
    return "".join(output.get("text", "") for output in cell.get("outputs", []))


# ---------------------------------------------------------------------- the notebooks
def test_there_is_one_notebook_per_topic_each_built_from_its_source():
    builder = _load_builder()
    sources = sorted((EXERCISES / "source").glob("[0-9]*.py"))
    assert [p.stem for p in sources] == [p.stem for p in NOTEBOOKS] and len(NOTEBOOKS) == 9
    for source, notebook in zip(sources, NOTEBOOKS):
        assert notebook.read_text() == builder.notebook_text(source), \
            f"{notebook.name} is stale: run python scripts/make_exercises.py"
        assert all(not cell.get("outputs") for cell in nbformat.read(notebook, as_version=4).cells)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_to_fill_in_is_blank_and_has_a_reference_answer(path):
    notebook = nbformat.read(path, as_version=4)
    exercises, checks = _tagged(notebook, "exercise"), _tagged(notebook, "check")
    assert exercises and len(checks) >= len(exercises)
    solutions = _functions(_solution_path(path).read_text())
    for cell in exercises:
        assert "# YOUR CODE HERE" in cell.source and cell.source.rstrip().endswith("raise NotImplementedError")
        for name, blank in _functions(cell.source).items():
            assert name in solutions, f"{path.name}: no reference answer for {name}"
            # The same signature and docstring as the blank: only the body differs.
            assert solutions[name].split('"""')[:2] == blank.split('"""')[:2], f"{name}: the signatures differ"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_as_shipped_every_check_fails_with_the_fill_in_hint(path):
    notebook = _execute(nbformat.read(path, as_version=4), allow_errors=True)
    for cell in notebook.cells:
        errors = _errors(cell)
        if "check" in cell.metadata.get("tags", []):
            assert len(errors) == 1, f"a check cell of {path.name} did not fail:\n{cell.source}"
            assert errors[0].ename == "ExerciseFailed" and "fill in the cell above" in errors[0].evalue, errors[0]
        else:
            assert not errors, f"{path.name}: a cell that is not a check failed:\n{cell.source}\n{errors}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_with_the_reference_answers_every_check_passes(path):
    notebook = nbformat.read(path, as_version=4)
    _fill_in_solutions(notebook, path)
    notebook = _execute(notebook, allow_errors=False)  # any error raises CellExecutionError
    for cell in _tagged(notebook, "check"):
        assert "OK" in _text(cell), f"{path.name}: a check printed no OK:\n{cell.source}\n{_text(cell)}"


def test_a_wrong_answer_in_a_notebook_gets_its_hint_and_the_other_checks_still_pass():
    path = EXERCISES / "01_activations.ipynb"
    notebook = nbformat.read(path, as_version=4)
    _fill_in_solutions(notebook, path)
    first = _tagged(notebook, "exercise")[0]
    first.source = first.source.replace("return np.where(", "return 2 * np.where(")  # counted twice
    assert "2 * np.where(" in first.source
    checks = _tagged(_execute(notebook, allow_errors=True), "check")
    (error,) = _errors(checks[0])
    assert error.ename == "ExerciseFailed" and "is 2x the right one everywhere" in error.evalue
    assert all("OK" in _text(cell) and not _errors(cell) for cell in checks[1:])


# ---------------------------------------------------------------------- the hints, on deliberately wrong answers
RIGHT = np.random.default_rng(1).standard_normal((3, 4))


def _diagnosis(got, expected=RIGHT, **options):
    found = ex.diagnose(got, expected, "dx", **options)
    assert found is not None, "a wrong answer was accepted"
    return found


def test_a_right_answer_up_to_rounding_gets_no_hint():
    assert ex.diagnose(RIGHT * (1 + 1e-12), RIGHT) is None
    assert ex.diagnose(tg.tensor(RIGHT), RIGHT) is None  # a tinygan Tensor is compared by its data
    ex.expect_close(RIGHT + 1e-13, RIGHT)  # does not raise


def test_a_gradient_off_by_a_constant_factor_is_named_with_its_ratio():
    found = _diagnosis(2 * RIGHT)
    assert found.kind == "factor" and "2x the right one everywhere" in found.message and "twice" in found.message
    found = _diagnosis(0.25 * RIGHT, factor_hints={0.25: "did you divide by k*k twice?"})
    assert found.kind == "factor" and "0.25x" in found.message and "k*k twice" in found.message
    assert "sign" in _diagnosis(-RIGHT).message
    assert _diagnosis(RIGHT * (1 + 1e-5)).kind == "element"  # rounding, not a factor: no "1x the right one"
    found = _diagnosis(np.zeros_like(RIGHT))
    assert found.kind == "factor" and "zero everywhere" in found.message


def test_one_wrong_element_is_located_with_its_error():
    wrong = RIGHT.copy()
    wrong[1, 2] += 0.5
    wrong[2, 0] -= 1.0
    found = _diagnosis(wrong)
    assert found.kind == "element"
    assert "element (1, 2)" in found.message and f"should be {RIGHT[1, 2]:.6g}" in found.message
    assert "off by 0.5" in found.message and "2 of 12 elements are wrong" in found.message


def test_a_wrong_shape_shows_expected_and_got():
    found = _diagnosis(RIGHT[:2])
    assert found.kind == "shape" and "expected (3, 4), got (2, 4)" in found.message
    found = _diagnosis(RIGHT.reshape(4, 3) + 1)  # same size, not a transpose
    assert found.kind == "shape" and "same number of elements" in found.message


def test_a_transposed_result_is_recognised():
    assert _diagnosis(RIGHT.T).kind == "transposed"
    square = np.arange(16.0).reshape(4, 4)  # same shape, rows and columns swapped
    assert _diagnosis(square.T, square).kind == "transposed"
    batch = np.random.default_rng(2).standard_normal((2, 3, 3))
    assert _diagnosis(np.swapaxes(batch, -1, -2), batch).kind == "transposed"


def test_nan_and_none_and_non_arrays():
    wrong = RIGHT.copy()
    wrong[0, 3] = np.nan
    found = _diagnosis(wrong)
    assert found.kind == "nan" and "(0, 3)" in found.message
    assert _diagnosis(None).kind == "not_an_array" and "return" in _diagnosis(None).message
    assert _diagnosis("a string").kind == "not_an_array"
    assert _diagnosis(1.5, 1.2).kind == "element"  # one number: a plain "is ... but should be ..."


def test_an_unwritten_function_asks_to_fill_in_its_cell():
    def relu_backward(grad, x):
        # YOUR CODE HERE
        raise NotImplementedError

    with pytest.raises(ex.ExerciseFailed, match="relu_backward is not written yet: fill in the cell above") as info:
        ex.check_against(relu_backward, lambda g, x: g, [(RIGHT, RIGHT)])
    assert info.value.kind == "not_implemented"
    # Not an AssertionError: a notebook shows "ExerciseFailed: HINT: ...", never a bare assert.
    assert not isinstance(info.value, AssertionError)


def test_check_against_names_the_output_and_case_that_differ(capsys):
    def reference(g, x):
        return g * 2, g.sum(axis=0)

    ex.check_against(lambda g, x: (g * 2, g.sum(axis=0)), reference, [(RIGHT, RIGHT)], names=("dx", "dbias"))
    assert "OK" in capsys.readouterr().out
    def wrong_for_two_rows(g, x):
        return g * 2, g.sum(axis=0) * (2 if len(g) == 2 else 1)

    with pytest.raises(ex.ExerciseFailed, match=r"dbias of wrong_for_two_rows\(array\(2, 4\), array\(2, 4\)\) "
                                                r"is 2x the right one") as info:
        ex.check_against(wrong_for_two_rows, reference, [(RIGHT, RIGHT), (RIGHT[:2], RIGHT[:2])], names=("dx", "dbias"))
    assert info.value.kind == "factor"
    with pytest.raises(ex.ExerciseFailed, match="return 2 values") as info:
        ex.check_against(lambda g, x: g, reference, [(RIGHT, RIGHT)], names=("dx", "dbias"))
    assert info.value.kind == "not_an_array"


def test_check_gradcheck_accepts_a_right_backward_and_names_a_wrong_one(capsys):
    x = np.random.default_rng(3).standard_normal((2, 3))
    ex.check_gradcheck(F.tanh, lambda g, x: g * (1 - np.tanh(x) ** 2), [x], name="tanh_backward")
    assert "OK: tanh_backward passes tg.gradcheck" in capsys.readouterr().out
    with pytest.raises(ex.ExerciseFailed, match="tanh_backward disagrees with central differences") as info:
        ex.check_gradcheck(F.tanh, lambda g, x: 2 * g * (1 - np.tanh(x) ** 2), [x], name="tanh_backward")
    assert info.value.kind == "gradcheck"
    with pytest.raises(ex.ExerciseFailed, match=r"must have that input's shape \(2, 3\), got \(3, 2\)") as info:
        ex.check_gradcheck(F.tanh, lambda g, x: g.T, [x], name="tanh_backward")
    assert info.value.kind == "shape"


def test_the_notebook_im2col_and_col2im_are_adjoint_and_match_the_kernels():
    from tinygan.kernels.im2col import im2col as kernel_im2col

    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 5, 6))
    cols = ex.im2col(x, 3, 2, 1)
    out = (ex.conv_output_size(5, 3, 2, 1), ex.conv_output_size(6, 3, 2, 1))
    assert out == (3, 3)
    # The notebook's columns are (n, oh, ow), the kernel's (oh, ow, n): the same columns, permuted.
    kernel_cols = kernel_im2col(x, (3, 3), (2, 2), (1, 1), (1, 1), out)
    np.testing.assert_array_equal(cols, kernel_cols.reshape(len(cols), 9, 2).transpose(0, 2, 1).reshape(cols.shape))
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(np.sum(cols * c), np.sum(x * ex.col2im(c, x.shape, 3, 2, 1)))


# Mistakes learners make, each put into the reference answer of its notebook: the first check
# that fails must fail with a hint (an ExerciseFailed, never a NumPy error from inside a check)
# that points at the mistake.  (notebook, (text in the reference answer, the mistake), hint)
LEARNER_MISTAKES = {
    "x >= 0 at the kink": ("01_activations", ("np.where(x > 0,", "np.where(x >= 0,"),
                           "leaky_relu_backward(array(3, 5), array(3, 5), 0.0): element (0, 1)"),
    "col2im without the crop": ("02_im2col_col2im", ("return padded[:, :, p:p + h, p:p + w]", "return padded"),
                                "has the wrong shape"),
    "transposed size without -2p": ("07_conv_transpose_as_col2im", (" - 2 * padding + k,", " + k,"),
                                    "col2im: an image of shape"),
    "G run twice": ("08_dcgan_step", ("D(fake), ones)", "D(G(tg.tensor(z))), ones)"), "did G run twice?"),
    "D never stepped": ("08_dcgan_step", ("    optimizer_d.step()\n", ""), "discriminator main.0.weight after step 0"),
    "B^T d B^T, not B^T d B": ("09_winograd", ("BT @ d @ BT.T", "BT @ d @ BT"), "of winograd_tile_2d(array(2, 2)"),
}


@pytest.mark.parametrize("mistake", LEARNER_MISTAKES, ids=lambda name: name.replace(" ", "-"))
def test_a_learners_mistake_gets_a_hint_that_points_at_it(mistake):
    stem, (right, wrong), hint = LEARNER_MISTAKES[mistake]
    path = EXERCISES / f"{stem}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    _fill_in_solutions(notebook, path)
    cells = [cell for cell in _tagged(notebook, "exercise") if right in cell.source]
    assert len(cells) == 1, f"{stem}: the reference answer no longer contains {right!r}"
    cells[0].source = cells[0].source.replace(right, wrong)
    checks = _tagged(_execute(notebook, allow_errors=True), "check")
    failed = [error for cell in checks for error in _errors(cell)]
    assert failed, f"{stem}: the mistake '{mistake}' passed every check"
    assert all(error.ename == "ExerciseFailed" for error in failed), [(e.ename, e.evalue) for e in failed]
    assert hint in failed[0].evalue, failed[0].evalue


def test_the_shared_col2im_names_what_does_not_fit():
    cols = np.zeros((3 * 4 * 4, 2 * 3 * 3))  # an image (2, 3, 6, 6) with k=4, s=2, p=1 has 3x3 windows
    assert ex.col2im(cols, (2, 3, 6, 6), 4, 2, 1).shape == (2, 3, 6, 6)
    with pytest.raises(ex.ExerciseFailed, match=r"has 4x4 windows, so its cols must have shape .* = \(48, 32\), "
                                                r"got \(48, 18\)") as failure:
        ex.col2im(cols, (2, 3, 8, 8), 4, 2, 1)  # the size of a transposed convolution without its -2p
    assert failure.value.kind == "shape"
    with pytest.raises(ex.ExerciseFailed, match="x_shape is the image's"):
        ex.col2im(cols, (3, 6, 6), 4, 2, 1)
    with pytest.raises(ex.ExerciseFailed, match=r"a batch of images \(N, C, H, W\), got shape \(6, 6\)"):
        ex.im2col(np.zeros((6, 6)), 3, 1, 1)


def test_expect_shape_gives_the_shape_hint():
    ex.expect_shape(np.zeros((2, 3)), (2, 3))
    with pytest.raises(ex.ExerciseFailed, match=r"col2im\(c\) has the wrong shape: expected \(2, 3\), got \(3, 2\) "
                                                r"-- the same number of elements") as failure:
        ex.expect_shape(np.zeros((3, 2)), (2, 3), "col2im(c)")
    assert failure.value.kind == "shape"
