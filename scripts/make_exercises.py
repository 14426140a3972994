"""Build the exercise notebooks exercises/NN_topic.ipynb from their sources exercises/source/NN_topic.py.

A source is plain Python in the "percent" format, so that it reads and diffs as code:

    # %% [markdown]          a markdown cell: its lines without the leading "# "
    # %%                     a code cell
    # %% [exercise]          a code cell the learner fills in (tests put the reference answers
                             from exercises/solutions/<topic>.py in its place)
    # %% [check]             a code cell that checks an exercise (it must fail until it is done)

The notebooks are written without outputs and with stable cell ids, so running this script
twice gives the same files; tests/test_exercises.py checks that the committed notebooks
are what it writes.   Usage:  python scripts/make_exercises.py
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

EXERCISES = Path(__file__).resolve().parents[1] / "exercises"
MARKER = re.compile(r"^# %%(?: \[(markdown|exercise|check)\])?\s*$")


def parse_cells(text: str) -> list[tuple[str, str]]:
    """(kind, source) for each cell of a percent-format source; kind is code, markdown, exercise or check."""
    cells, kind, lines = [], None, []
    for line in text.splitlines() + ["# %%"]:  # a final marker closes the last cell
        match = MARKER.match(line)
        if not match:
            lines.append(line)
            continue
        if kind is not None:
            cells.append((kind, "\n".join(lines).strip("\n")))
        elif "".join(lines).strip():
            raise ValueError("text before the first '# %%' marker")
        kind, lines = match.group(1) or "code", []
    return cells


def _markdown(source: str) -> str:
    """The comment lines of a markdown cell without their '# ' (a bare '#' is an empty line)."""
    return "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#") for line in source.splitlines())


def build_notebook(source_path: Path) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}}
    for number, (kind, source) in enumerate(parse_cells(source_path.read_text())):
        if kind == "markdown":
            cell = nbformat.v4.new_markdown_cell(_markdown(source))
        else:
            cell = nbformat.v4.new_code_cell(source)
            if kind != "code":
                cell.metadata["tags"] = [kind]
        cell.id = f"{source_path.stem.replace('_', '-')}-{number:02d}"  # stable: the files diff cleanly
        notebook.cells.append(cell)
    nbformat.validate(notebook)
    return notebook


def notebook_text(source_path: Path) -> str:
    return nbformat.writes(build_notebook(source_path)) + "\n"


def main() -> int:
    for source_path in sorted((EXERCISES / "source").glob("[0-9]*.py")):
        target = EXERCISES / f"{source_path.stem}.ipynb"
        target.write_text(notebook_text(source_path))
        print(f"wrote {target.relative_to(EXERCISES.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
