"""The transport contract: how the hub sees a partner's exchange folders.

A transport is rooted somewhere (a local folder, an SFTP login's start folder or a configured remote
folder). Folders (``inbox``, ``archive``, ``outbox``) and remote paths (``inbox/a.txt``) are POSIX
strings **relative to that root**; absolute paths, ``..`` and empty components are refused.

Semantics every implementation keeps:

* ``list(folder)`` returns regular files only, sorted by name, without hidden names (starting with
  ``.``; our own in-progress uploads are hidden ``.<name>.<random>.part`` files).
* ``upload`` writes to a hidden temporary name in the target folder, then renames it onto the final
  name, replacing an existing file; the partner never sees a half-written file under the final name.
* ``download`` writes to a temporary local file next to ``local_path`` and renames it at the end.
* ``move`` never overwrites: if the target exists, ``name.1``, ``name.2`` … is used. A ``.done``
  marker next to the file moves with it.
* ``ready_files(folder, rules)`` returns only the files that are complete: present with the same size
  and mtime in two listings ``rules.settle_seconds`` apart, not a marker, not a partial-download name
  (``*.part``, ``*.filepart``, ``*.tmp`` …), and with a ``<name><marker_suffix>`` marker when
  ``rules.markers_required``. A :class:`connectors.partners.PartnerProfile` is such a ``rules`` object.
* a transport is a context manager (``with transport: ...``); ``open()``/``close()`` are idempotent.
"""

from __future__ import annotations

import abc
import builtins
import logging
import posixpath
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

#: names ending like this are somebody's unfinished transfer and are never taken
PARTIAL_SUFFIXES = (".part", ".partial", ".filepart", ".tmp", ".crdownload", ".uploading")
DEFAULT_MARKER_SUFFIX = ".done"

#: ``progress(bytes_done, bytes_total)`` callback of upload/download
Progress = Callable[[int, int], None]
LocalPath = str | PathLike[str]


@dataclass(frozen=True)
class RemoteFile:
    """One file in a partner folder. ``mtime`` is POSIX seconds (SFTP gives whole seconds)."""

    name: str
    size: int
    mtime: float
    folder: str = ""

    @property
    def path(self) -> str:
        """The path relative to the transport root, as accepted by download/read_bytes/exists."""
        return join(self.folder, self.name)


@runtime_checkable
class ReadinessRules(Protocol):
    """What ``ready_files`` needs from a partner profile."""

    markers_required: bool
    marker_suffix: str
    settle_seconds: float


@dataclass(frozen=True)
class Readiness:
    """A stand-alone :class:`ReadinessRules` (when there is no partner profile at hand)."""

    markers_required: bool = False
    marker_suffix: str = DEFAULT_MARKER_SUFFIX
    settle_seconds: float = 5.0


DEFAULT_READINESS = Readiness()


def check_rel(path: str, *, what: str = "путь") -> str:
    """Validate a root-relative POSIX path; return it normalised ('' for the root itself)."""
    if path is None or not isinstance(path, str):
        raise ValueError(f"Некорректный {what}: {path!r} (path must be a string)")
    if path in ("", "."):
        return ""
    if path.startswith("/") or "\\" in path or "\x00" in path:
        raise ValueError(f"Некорректный {what} {path!r}: только относительные пути (relative paths only)")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ValueError(f"Некорректный {what} {path!r}: '..' запрещено (no '..')")
    return "/".join(parts)


def check_name(name: str) -> str:
    """Validate a bare file name (no folder part)."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise ValueError(f"Некорректное имя файла: {name!r} (bad file name)")
    return name


def join(folder: str, name: str) -> str:
    """Join a folder and a name into a root-relative path."""
    folder = check_rel(folder, what="каталог")
    return posixpath.join(folder, name) if folder else name


def split(path: str) -> tuple[str, str]:
    """Split a root-relative path into (folder, name)."""
    path = check_rel(path)
    folder, name = posixpath.split(path)
    return folder, check_name(name)


def temp_name(name: str) -> str:
    """The hidden in-progress name used while uploading ``name``."""
    return f".{name}.{uuid.uuid4().hex[:8]}.part"


def is_partial(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES)


def numbered(name: str, n: int) -> str:
    """``name`` with a collision counter: ``a.txt`` → ``a.txt.1``."""
    return name if n == 0 else f"{name}.{n}"


class Transport(abc.ABC):
    """Access to one partner's exchange folders. See the module docstring for the semantics."""

    #: "local" or "sftp"
    kind: str = ""

    # -- lifecycle -------------------------------------------------------------------------
    def open(self) -> Transport:
        """Connect (if the transport needs it). Idempotent."""
        return self

    def close(self) -> None:  # noqa: B027 - deliberately a no-op for transports without a connection
        """Disconnect. Idempotent."""

    def __enter__(self) -> Transport:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ------------------------------------------------------------------------
    @abc.abstractmethod
    def list(self, folder: str) -> list[RemoteFile]:
        """Regular, non-hidden files of ``folder``, sorted by name. A missing folder is an error."""

    @abc.abstractmethod
    def download(self, name: str, local_path: LocalPath, *, progress: Progress | None = None) -> int:
        """Copy the remote file ``name`` (root-relative path, e.g. ``inbox/a.txt`` or
        ``RemoteFile.path``) to ``local_path`` (written whole, then renamed). Returns bytes copied."""

    @abc.abstractmethod
    def upload(
        self, local_path: LocalPath, folder: str, name: str | None = None, *, progress: Progress | None = None
    ) -> str:
        """Upload ``local_path`` as ``folder/name`` (default: the local file's name) through a hidden
        temporary name and a rename. Creates ``folder`` if missing. Returns the remote path."""

    @abc.abstractmethod
    def upload_bytes(self, data: bytes, folder: str, name: str) -> str:
        """Like :meth:`upload` for in-memory content (protocols, replies). Returns the remote path."""

    @abc.abstractmethod
    def move(
        self,
        name: str,
        from_folder: str,
        to_folder: str,
        *,
        marker_suffix: str | None = DEFAULT_MARKER_SUFFIX,
    ) -> str:
        """Move ``from_folder/name`` into ``to_folder`` without overwriting (``name.1`` … on a clash);
        a ``name + marker_suffix`` marker moves along. Creates ``to_folder`` if missing.
        Returns the new remote path of the file."""

    @abc.abstractmethod
    def exists(self, name: str) -> bool:
        """Whether the root-relative path exists (file or folder)."""

    @abc.abstractmethod
    def read_bytes(self, name: str) -> bytes:
        """The whole content of a remote file."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove a remote file (missing file: ``FileNotFoundError``)."""

    # -- shared logic ----------------------------------------------------------------------
    def ready_files(self, folder: str, profile: ReadinessRules | None = None) -> builtins.list[RemoteFile]:
        """Files of ``folder`` that are safe to take now (see the module docstring)."""
        rules = profile if profile is not None else DEFAULT_READINESS
        suffix = rules.marker_suffix or DEFAULT_MARKER_SUFFIX
        first = {f.name: f for f in self.list(folder)}
        if rules.settle_seconds > 0:
            time.sleep(rules.settle_seconds)
            second = self.list(folder)
        else:
            second = list(first.values())
        present = {f.name for f in second}
        ready: builtins.list[RemoteFile] = []
        for f in second:
            if f.name.endswith(suffix) or is_partial(f.name):
                continue
            before = first.get(f.name)
            if before is None or before.size != f.size or before.mtime != f.mtime:
                log.info("%s: %s is still being written (size/mtime changed), not taken", folder, f.name)
                continue
            if rules.markers_required and f.name + suffix not in present:
                log.info("%s: %s has no %s marker yet, not taken", folder, f.name, suffix)
                continue
            ready.append(f)
        return ready
