"""The transport contract, checked on both transports (local folder and a real OpenSSH SFTP server)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from connectors.transport import Readiness, RemoteFile

if TYPE_CHECKING:
    from tests.transport.conftest import Area

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:paramiko")


def test_list_returns_regular_visible_files_sorted(area: Area) -> None:
    area.put("inbox/b.txt", b"bb", mtime=1_700_000_000)
    area.put("inbox/a.txt", b"a", mtime=1_700_000_100)
    area.put("inbox/.hidden", b"x")
    area.disk("inbox/subdir").mkdir()
    with area.make() as t:
        files = t.list("inbox")
        assert files == [
            RemoteFile("a.txt", 1, 1_700_000_100.0, "inbox"),
            RemoteFile("b.txt", 2, 1_700_000_000.0, "inbox"),
        ]
        assert files[0].path == "inbox/a.txt"
        assert t.list("archive") == []
        with pytest.raises(FileNotFoundError):
            t.list("no_such_folder")


def test_download_read_exists_delete(area: Area, tmp_path: Path) -> None:
    payload = os.urandom(300_000) + "ИВАНОВ;1000123456;2500,00".encode("cp1251")
    area.put("inbox/6234000011_40702810900000001234_14032025_001.txt", payload)
    local = tmp_path / "got" / "file.txt"
    local.parent.mkdir()
    with area.make() as t:
        (f,) = t.list("inbox")
        assert t.download(f.path, local) == len(payload)
        assert local.read_bytes() == payload
        assert os.listdir(local.parent) == ["file.txt"]  # no local temp file left
        assert t.read_bytes(f.path) == payload
        assert t.exists(f.path) and t.exists("inbox") and not t.exists("inbox/nope.txt")
        with pytest.raises(FileNotFoundError):
            t.download("inbox/nope.txt", tmp_path / "nope.txt")
        assert not (tmp_path / "nope.txt").exists()
        t.delete(f.path)
        assert not area.disk(f.path).exists()


def test_upload_goes_through_a_hidden_temp_name(area: Area, tmp_path: Path) -> None:
    src = tmp_path / "protocol.err.txt"
    payload = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(payload)
    seen: list[tuple[bool, list[str]]] = []

    def progress(done: int, total: int) -> None:
        if done < total:  # while the upload is running
            names = sorted(os.listdir(area.disk("outbox")))
            seen.append((area.disk("outbox/protocol.err.txt").exists(), names))

    with area.make() as t:
        assert t.upload(src, "outbox", progress=progress) == "outbox/protocol.err.txt"
        assert seen, "progress was never reported mid-upload"
        for final_visible, names in seen:
            assert not final_visible  # the partner never sees a half file under the final name
            assert (
                len(names) == 1 and names[0].startswith(".protocol.err.txt.") and names[0].endswith(".part")
            )
        assert t.list("outbox") == [
            RemoteFile("protocol.err.txt", len(payload), t.list("outbox")[0].mtime, "outbox")
        ]
    assert area.disk("outbox/protocol.err.txt").read_bytes() == payload
    assert os.listdir(area.disk("outbox")) == ["protocol.err.txt"]


def test_upload_replaces_existing_and_creates_folders(area: Area, tmp_path: Path) -> None:
    area.put("outbox/reply.txt", b"old content, longer than the new one")
    src = tmp_path / "reply.txt"
    src.write_bytes(b"new")
    with area.make() as t:
        assert t.upload(src, "outbox") == "outbox/reply.txt"
        assert t.read_bytes("outbox/reply.txt") == b"new"
        assert t.upload_bytes("ответ".encode("cp1251"), "outbox/2025/03", "r.txt") == "outbox/2025/03/r.txt"
    assert area.disk("outbox/2025/03/r.txt").read_bytes() == "ответ".encode("cp1251")
    assert sorted(os.listdir(area.disk("outbox"))) == ["2025", "reply.txt"]


def test_move_to_archive_never_overwrites_and_takes_the_marker(area: Area) -> None:
    area.put("inbox/a.txt", b"first")
    area.put("inbox/a.txt.done", b"")
    area.put("archive/a.txt", b"loaded yesterday")
    with area.make() as t:
        assert t.move("a.txt", "inbox", "archive") == "archive/a.txt.1"
        assert t.list("inbox") == []
        area.put("inbox/a.txt", b"second")
        assert t.move("a.txt", "inbox", "archive") == "archive/a.txt.2"
        area.put("inbox/b.txt", b"b")
        assert t.move("b.txt", "inbox", "archive/2025-03") == "archive/2025-03/b.txt"
        with pytest.raises(FileNotFoundError):
            t.move("missing.txt", "inbox", "archive")
    assert area.disk("archive/a.txt").read_bytes() == b"loaded yesterday"
    assert area.disk("archive/a.txt.1").read_bytes() == b"first"
    assert area.disk("archive/a.txt.1.done").exists()
    assert area.disk("archive/a.txt.2").read_bytes() == b"second"
    assert area.disk("archive/2025-03/b.txt").read_bytes() == b"b"


def test_file_still_being_written_is_not_taken(area: Area) -> None:
    area.put("inbox/stable.txt", b"complete registry")
    growing = area.put("inbox/growing.txt", b"")
    area.put("inbox/upload.txt.part", b"partial")
    started, stop = threading.Event(), threading.Event()

    def writer() -> None:
        while not stop.is_set():
            with open(growing, "ab") as fh:
                fh.write(b"14-03-2025;09-31-07;8606/00020;...\r\n")
            started.set()
            time.sleep(0.03)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        started.wait(5)
        with area.make() as t:
            rules = Readiness(settle_seconds=0.3)
            assert [f.name for f in t.ready_files("inbox", rules)] == ["stable.txt"]
            stop.set()
            thread.join(5)
            assert [f.name for f in t.ready_files("inbox", rules)] == ["growing.txt", "stable.txt"]
    finally:
        stop.set()
        thread.join(5)


def test_markers_required(area: Area) -> None:
    area.put("inbox/a.txt", b"a")
    area.put("inbox/a.txt.done", b"")
    area.put("inbox/b.txt", b"b")  # no marker yet
    area.put("inbox/c.txt.done", b"")  # marker without a file
    with area.make() as t:
        strict = Readiness(markers_required=True, settle_seconds=0)
        assert [f.name for f in t.ready_files("inbox", strict)] == ["a.txt"]
        relaxed = Readiness(markers_required=False, settle_seconds=0)
        assert [f.name for f in t.ready_files("inbox", relaxed)] == ["a.txt", "b.txt"]
        custom = Readiness(markers_required=True, marker_suffix=".ok", settle_seconds=0)
        area.put("inbox/b.txt.ok", b"")
        assert [f.name for f in t.ready_files("inbox", custom)] == ["b.txt"]


@pytest.mark.parametrize("bad", ["../etc/passwd", "/etc/passwd", "inbox/../../x", "a\\b"])
def test_paths_cannot_escape_the_root(area: Area, bad: str, tmp_path: Path) -> None:
    with area.make() as t:
        with pytest.raises(ValueError):
            t.read_bytes(bad)
        with pytest.raises(ValueError):
            t.list(bad)
        with pytest.raises(ValueError):
            t.upload_bytes(b"x", "outbox", bad)
