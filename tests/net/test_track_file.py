"""track_file with a real file: inotify sees writes, renames and deletes."""

from __future__ import annotations

import asyncio
import os

import pytest

from vipkeeper.config.model import TrackFile
from vipkeeper.track.file import FileTracker

pytestmark = pytest.mark.net


async def wait_for(q: asyncio.Queue, timeout: float = 2.0):
    return await asyncio.wait_for(q.get(), timeout)


def test_file_changes_are_seen(tmp_path):
    path = tmp_path / "prio"

    async def body():
        q: asyncio.Queue = asyncio.Queue()
        ft = FileTracker(TrackFile(name="f", file=str(path), init_file=5), lambda n, v: q.put_nowait(v))
        try:
            assert ft.start() == 5 and ft.mode == "inotify"
            path.write_text("-20\n")
            assert await wait_for(q) == -20
            tmp = tmp_path / "new"
            tmp.write_text("0x10")
            os.rename(tmp, path)
            assert await wait_for(q) == 16
            path.unlink()
            assert await wait_for(q) == 0
            path.write_text("junk")  # unparsable reads as 0: no change
            path.write_text("7")
            assert await wait_for(q) == 7
        finally:
            ft.stop()
    asyncio.run(body())
