"""Local-folder transport: the embedded default (partners drop files into a shared or mounted folder).

Same semantics as the SFTP transport (see :mod:`connectors.transport.base`): uploads go to a hidden
temporary file in the target folder and are renamed with ``os.replace`` (atomic on one filesystem);
``move`` uses ``os.link`` + ``os.unlink`` so it never overwrites an existing archive file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from pathlib import Path

from .base import (
    DEFAULT_MARKER_SUFFIX,
    LocalPath,
    Progress,
    RemoteFile,
    Transport,
    check_name,
    check_rel,
    join,
    numbered,
    temp_name,
)

CHUNK = 1024 * 1024


def _copy(src, dst, total: int, progress: Progress | None) -> int:
    done = 0
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return done
        dst.write(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)


class LocalTransport(Transport):
    """Partner folders under ``root`` on the local filesystem."""

    kind = "local"

    def __init__(self, root: LocalPath, *, create: bool = True) -> None:
        self.root = Path(root)
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        elif not self.root.is_dir():
            raise FileNotFoundError(f"Каталог обмена {self.root} не найден (exchange folder not found)")

    def __repr__(self) -> str:
        return f"LocalTransport({str(self.root)!r})"

    def _abs(self, rel: str) -> Path:
        rel = check_rel(rel)
        return self.root / rel if rel else self.root

    def list(self, folder: str) -> list[RemoteFile]:
        folder = check_rel(folder, what="каталог")
        out = []
        with os.scandir(self._abs(folder)) as it:
            for entry in it:
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
                out.append(RemoteFile(entry.name, st.st_size, float(st.st_mtime), folder))
        return sorted(out, key=lambda f: f.name)

    def download(self, name: str, local_path: LocalPath, *, progress: Progress | None = None) -> int:
        src = self._abs(name)
        dst = Path(local_path)
        tmp = dst.with_name(temp_name(dst.name))
        try:
            with open(src, "rb") as fi, open(tmp, "wb") as fo:
                done = _copy(fi, fo, os.fstat(fi.fileno()).st_size, progress)
            os.replace(tmp, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return done

    def _put(self, write, folder: str, name: str) -> str:
        folder = check_rel(folder, what="каталог")
        check_name(name)
        target_dir = self._abs(folder)
        target_dir.mkdir(parents=True, exist_ok=True)
        tmp = target_dir / temp_name(name)
        try:
            with open(tmp, "wb") as fo:
                write(fo)
                fo.flush()
                os.fsync(fo.fileno())
            os.replace(tmp, target_dir / name)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return join(folder, name)

    def upload(
        self, local_path: LocalPath, folder: str, name: str | None = None, *, progress: Progress | None = None
    ) -> str:
        src = Path(local_path)
        total = src.stat().st_size

        def write(fo) -> None:
            with open(src, "rb") as fi:
                _copy(fi, fo, total, progress)

        return self._put(write, folder, name or src.name)

    def upload_bytes(self, data: bytes, folder: str, name: str) -> str:
        return self._put(lambda fo: fo.write(data), folder, name)

    def _link_move(self, src: Path, dst: Path) -> None:
        """Rename without clobbering: FileExistsError if ``dst`` exists."""
        try:
            os.link(src, dst)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK):
                raise
            # no hard links here (some mounts): check-then-move, not atomic against a concurrent writer
            if dst.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(dst)) from None
            shutil.move(src, dst)
            return
        os.unlink(src)

    def move(
        self,
        name: str,
        from_folder: str,
        to_folder: str,
        *,
        marker_suffix: str | None = DEFAULT_MARKER_SUFFIX,
    ) -> str:
        check_name(name)
        src = self._abs(join(from_folder, name))
        if not src.is_file():
            raise FileNotFoundError(
                errno.ENOENT, f"Файл не найден (file not found): {join(from_folder, name)}"
            )
        dst_dir = self._abs(to_folder)
        dst_dir.mkdir(parents=True, exist_ok=True)
        n = 0
        while True:
            final = numbered(name, n)
            try:
                self._link_move(src, dst_dir / final)
                break
            except FileExistsError:
                n += 1
        if marker_suffix:
            marker = src.with_name(name + marker_suffix)
            if marker.is_file():
                os.replace(marker, dst_dir / (final + marker_suffix))
        return join(to_folder, final)

    def exists(self, name: str) -> bool:
        return self._abs(name).exists()

    def read_bytes(self, name: str) -> bytes:
        return self._abs(name).read_bytes()

    def delete(self, name: str) -> None:
        path = self._abs(name)
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Это каталог (is a directory)", name)
        path.unlink()
