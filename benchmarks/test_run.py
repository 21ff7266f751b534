"""The benchmark's results file: each command replaces its own section and keeps the others."""

from pathlib import Path

from benchmarks.run import RESULTS_HEADER, write_section


def test_a_run_replaces_its_own_section_only(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    write_section(results, "run --sizes 1 10", "## small\n\nold small table\n")
    write_section(results, "run --sizes 120", "## large\n\nlarge table\n")
    write_section(results, "run --sizes 1 10", "## small\n\nnew small table\n")
    text = results.read_text()
    assert text.startswith(RESULTS_HEADER)
    assert "old small table" not in text
    assert text.index("new small table") < text.index("large table")
    assert text.count("<!-- section: run --sizes 1 10 -->") == 1
