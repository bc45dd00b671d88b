"""The house's shape is a contract, checked on every run (pyproject.toml's [tool.importlinter]):
imports run downward only (cloudsignal above clients above workspaces above the pure ACL language),
the ACL language never imports Django, and no package's modules import each other in a cycle. Lazy
imports inside functions count; imports under `if TYPE_CHECKING:` don't."""

import subprocess
import sys
from pathlib import Path

from django.conf import settings


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
