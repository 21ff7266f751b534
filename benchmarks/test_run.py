"""The benchmark's results file (each command replaces its own section and keeps the others)
and its memory sampler."""

import os
import sys
from pathlib import Path

from benchmarks.run import RESULTS_HEADER, measure, write_section


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


def test_peak_memory_counts_a_forked_child_once() -> None:
    """A child that has not called exec shares its parent's pages: counting them again would
    double a JVM's memory whenever it forks to run a shell command."""
    parent_then_fork = (
        "import os\n"
        "pages = bytearray(256 * 2**20)\n"
        "for page in range(0, len(pages), 4096): pages[page] = 1\n"
        "reader, writer = os.pipe()\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    os.read(reader, 1)\n"  # alive until the parent has been sampled with it
        "    os._exit(0)\n"
        "import time\n"
        "deadline = time.monotonic() + 1\n"
        "while time.monotonic() < deadline: pass\n"
        "os.write(writer, b'x')\n"
        "os.waitpid(child, 0)\n"
    )
    measured = measure([sys.executable, "-c", parent_then_fork], dict(os.environ))
    assert 256 * 2**20 <= measured.peak_bytes < 1.5 * 256 * 2**20
