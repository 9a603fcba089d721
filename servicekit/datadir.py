"""Folders that hold what the services keep on disk (event stores, read models, uploaded files,
logs, the local secret): readable by the service's own user only."""

from __future__ import annotations

from pathlib import Path

PRIVATE = 0o700


def private_dir(path: Path) -> Path:
    """``path`` made with mode 0700, with each missing parent (the umask does not widen it); a
    folder that exists already is left as it is (an operator chose its mode)."""
    missing = [folder for folder in (path, *path.parents) if not folder.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE, exist_ok=True)
        folder.chmod(PRIVATE)  # mkdir's mode is masked by the umask; chmod's is not
    return path
