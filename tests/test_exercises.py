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
    assert [p.stem for p in sources] == [p.stem for p in NOTEBOOKS] and len(NOTEBOOKS) == 8
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
