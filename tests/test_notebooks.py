"""The notebooks run end to end on the embedded default (WordNet 3.0 + the Wikipedia sample), in order,
and are committed without outputs."""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
ORDER = ["01_build_metadata.ipynb", "02_match_and_balance.ipynb"]


def test_notebooks_are_committed_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == ORDER
    for name in ORDER:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: stale output"


def test_notebooks_execute(tmp_path, monkeypatch, wiki_sample):
    from nbclient import NotebookClient

    monkeypatch.setenv("METADATA_BUILDER_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    executed = {}
    for name in ORDER:  # 02 reads the metadata 01 writes
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
        executed[name] = nb
    # they did their job: files written, figures drawn, no error output
    assert (tmp_path / "metadata.json").is_file() and (tmp_path / "report" / "report.html").is_file()
    for name, nb in executed.items():
        outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
        assert not [o for o in outputs if o.output_type == "error"], name
        images = [o for o in outputs if "image/png" in o.get("data", {})]
        assert len(images) >= (1 if name.startswith("01") else 5), name
