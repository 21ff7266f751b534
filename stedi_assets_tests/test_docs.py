"""The docs site builds strictly (`make docs`): a broken link, a page missing from the nav or
a nav entry without its page fails here. And no user-facing page carries a commit hash or an
internal issue number: history lives in git."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from stedi_assets.settings import PROJECT_ROOT

USER_FACING = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    built = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "site" / "index.html").exists()


def test_user_facing_docs_state_what_is_true_now() -> None:
    history = re.compile(
        r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b|\bissue \d+\b|\b(slow|busy) hour\b"
        r"|notes/contract_spec\.md",
        re.IGNORECASE,
    )
    found = {
        f"{page.relative_to(PROJECT_ROOT)}: {match.group(0)}"
        for page in USER_FACING
        for match in history.finditer(page.read_text())
    }
    assert found == set()
