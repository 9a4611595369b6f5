"""The rename's journal: what a rename is about to change, kept until it is done, so that a rename
killed midway (SIGKILL, a power cut) is undone by the next one. Stdlib only."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

JOURNAL = ".rename-journal.json"


class Journal:
    """The original bytes of the files a rename writes (None: it creates them) and the moves it makes."""

    def __init__(self, root: Path) -> None:
        self.path = root / JOURNAL
        self.root = root

    def start(self, writes: dict[Path, bytes | None], moves: list[tuple[Path, Path]]) -> None:
        """Record the originals before the first change (written whole, then moved into place)."""
        record = {
            "writes": {self._name(path): _encode(before) for path, before in writes.items()},
            "moves": [[self._name(source), self._name(target)] for source, target in moves],
        }
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps(record))
        os.replace(partial, self.path)

    def finish(self) -> None:
        """The rename is complete (or undone): forget it."""
        self.path.unlink(missing_ok=True)

    def undo(self) -> bool:
        """Put back what an unfinished rename changed; False if there is nothing to undo."""
        if not self.path.is_file():
            return False
        record = json.loads(self.path.read_text())
        for source, target in reversed(record["moves"]):
            if (self.root / target).exists() and not (self.root / source).exists():
                (self.root / target).rename(self.root / source)
        for name, before in record["writes"].items():
            path = self.root / name
            if before is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(base64.b64decode(before))
        self.finish()
        return True

    def _name(self, path: Path) -> str:
        """`path` relative to the project, as the journal keeps it."""
        return path.relative_to(self.root).as_posix()


def _encode(data: bytes | None) -> str | None:
    """Bytes as JSON can hold them."""
    return None if data is None else base64.b64encode(data).decode()
