"""Real disks and real locks for ledger tests (tests/conftest.py makes fixtures of them).

A tmpfs mounted for a test can be filled or made read-only for real (root with mount rights);
another process holds a ledger's SQLite lock as a second kernel would.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

LOCKER = textwrap.dedent("""
    import sqlite3, sys
    db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=5)
    if sys.argv[2] == "exclusive":  # readers are shut out too
        db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    db.execute("ROLLBACK")
""")


class LockHolders:
    """hold(path, kind): another process takes the ledger's lock until release(); close() ends them all."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def hold(self, path: Path, kind: str):
        p = subprocess.Popen([sys.executable, "-c", LOCKER, str(path), kind], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        self.procs.append(p)
        assert p.stdout is not None and p.stdout.readline().strip() == "locked"

        def release():
            assert p.stdin is not None
            p.stdin.write("\n")
            p.stdin.flush()
            assert p.wait(10) == 0
        return release

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


class Tmpfs:
    """A real small file system (tmpfs), mounted for the test: full and read-only for real."""

    def __init__(self, where: Path):
        self.where = where

    def mount(self, opts: str) -> bool:
        return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(self.where)],
                              capture_output=True).returncode == 0

    def remount(self, opts: str) -> None:
        r = subprocess.run(["mount", "-o", f"remount,{opts}", str(self.where)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.where)], capture_output=True)

    def fill(self) -> Path:
        """Write a file until the system says ENOSPC; returns it (delete it to free the disk)."""
        filler = self.where / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            for chunk in (1 << 16, 1 << 12, 1 << 9):
                try:
                    while True:
                        os.write(fd, b"\0" * chunk)
                except OSError:
                    pass
        finally:
            os.close(fd)
        return filler


def set_read_only(folder: Path, tmpfs: Tmpfs | None, on: bool) -> None:
    """Make `folder` read-only (or writable again): by remounting its tmpfs, else by chmod."""
    if tmpfs is not None:
        tmpfs.remount("ro" if on else "rw")
    else:
        folder.chmod(0o555 if on else 0o755)
