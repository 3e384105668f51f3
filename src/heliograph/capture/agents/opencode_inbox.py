"""The inbox the OpenCode plugin writes: one JSON-lines file per OpenCode process.

The plugin (``opencode_plugin.ts``) appends each bus event as one line to
``<inbox>/opencode-<pid>.jsonl``: a local append never blocks OpenCode on Heliograph, needs no
running server, and survives a Heliograph crash. ``Inbox.read`` returns the complete lines
past each file's offset; ``commit`` stores the offsets (``<file>.offset``) once what was read
is exported; ``sweep`` deletes a file once its OpenCode process has exited and every line of
it is committed. A line that is not JSON is skipped and counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path

import orjson

__all__ = ["Inbox"]

log = logging.getLogger("heliograph.opencode")

_NAME = re.compile(r"^opencode-(\d+)\.jsonl$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Inbox:
    """Reads the plugin's inbox folder; one reader at a time (the CLI holds a lock)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.skipped = 0
        self._offsets: dict[Path, int] = {}
        self._committed: dict[Path, int] = {}

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if _NAME.match(p.name))

    def _offset(self, path: Path) -> int:
        if path not in self._offsets:
            offset = 0
            with contextlib.suppress(FileNotFoundError, ValueError):
                offset = int(path.with_name(path.name + ".offset").read_text().strip() or 0)
            self._offsets[path] = self._committed[path] = offset
        return self._offsets[path]

    def read(self) -> list[object]:
        """Events appended since the last read, oldest file first; complete lines only."""
        events: list[object] = []
        for path in self.files():
            offset = self._offset(path)
            try:
                with path.open("rb") as file:
                    file.seek(offset)
                    for line in file:
                        if not line.endswith(b"\n"):
                            break  # the plugin is still writing this line
                        offset += len(line)
                        self._parse(line, events)
            except OSError as exc:
                log.warning("cannot read the OpenCode inbox file %s: %s", path, exc)
            self._offsets[path] = offset
        return events

    def _parse(self, line: bytes, events: list[object]) -> None:
        if not line.strip():
            return
        try:
            events.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            self.skipped += 1

    def commit(self) -> None:
        """Remember what was read as done (call after exporting it)."""
        for path, offset in self._offsets.items():
            if self._committed.get(path) == offset or not path.exists():
                continue
            marker = path.with_name(path.name + ".offset")
            try:
                temporary = marker.with_name(marker.name + ".tmp")
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
                fd = os.open(temporary, flags, 0o600)
                try:
                    os.fchmod(fd, 0o600)  # a leftover .tmp may predate private files
                    os.write(fd, str(offset).encode())
                finally:
                    os.close(fd)
                temporary.replace(marker)
            except OSError as exc:
                log.warning("cannot store the inbox offset %s: %s", marker, exc)
                continue
            self._committed[path] = offset

    def writers_alive(self) -> bool:
        """True while an OpenCode process that writes to this inbox is running."""
        return any(_alive(int(m.group(1))) for p in self.files() if (m := _NAME.match(p.name)))

    def sweep(self) -> None:
        """Delete the files of exited OpenCode processes once every line is committed."""
        for path in self.files():
            match = _NAME.match(path.name)
            if match is None or _alive(int(match.group(1))):
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if self._committed.get(path, -1) >= size:
                for doomed in (path, path.with_name(path.name + ".offset")):
                    with contextlib.suppress(FileNotFoundError):
                        doomed.unlink()
                self._offsets.pop(path, None)
                self._committed.pop(path, None)
