"""The data dir holds the database, the secret key, the TLS key and the broker's socket: only the
account that runs CloudSignal may read it."""

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private(data_dir: Path) -> None:
    """Create `data_dir` 0700 and make everything in it private, including files that earlier
    versions left readable (a 0644 SQLite database gave away every dashboard session).

    The process umask becomes 077 too, so files made later (SQLite's -wal and -shm, the socket, the
    TLS key) are born private.
    """
    os.umask(0o077)
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    data_dir.chmod(DIR_MODE)
    for root, dirs, files in os.walk(data_dir):
        for name in dirs:
            _chmod(Path(root, name), DIR_MODE)
        for name in files:
            _chmod(Path(root, name), FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    try:
        if not path.is_symlink():
            path.chmod(mode)
    except (FileNotFoundError, PermissionError):
        # Gone meanwhile, or owned by someone else (a bind mount): nothing we can fix from here.
        pass
