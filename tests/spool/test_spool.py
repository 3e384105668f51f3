"""The spool keeps every appended line until it is acknowledged, across crashes and damage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from heliograph.spool import (
    CorruptLineError,
    SpoolFolder,
    SpoolReader,
    SpoolWriter,
    decode_line,
    encode_line,
    spool_status,
)


def payload(n: int) -> bytes:
    return b'{"n":%d}' % n


def open_spool(root: Path, max_segment_bytes: int = 1 << 20) -> tuple[SpoolWriter, SpoolReader]:
    folder = SpoolFolder(root)
    folder.ensure()
    lost: list[str] = []
    reader = SpoolReader(folder, 1 << 20, on_corrupt=lost.append)
    reader.lost = lost  # type: ignore[attr-defined]
    return SpoolWriter(folder, max_segment_bytes), reader


def test_line_round_trips_and_detects_any_altered_byte() -> None:
    line = encode_line(b'{"a":1}')
    assert line.endswith(b"\n")
    assert decode_line(line) == b'{"a":1}'
    with pytest.raises(CorruptLineError, match="checksum"):
        decode_line(line.replace(b'"a":1', b'"a":2'))
    with pytest.raises(CorruptLineError, match="framed"):
        decode_line(b'{"not":"a spool line"}\n')


def test_appended_records_are_read_once_and_acked_ones_never_again(tmp_path: Path) -> None:
    writer, reader = open_spool(tmp_path)
    for n in range(5):
        writer.append(encode_line(payload(n)))
    entries = reader.read(10)
    assert [e.payload for e in entries] == [payload(n) for n in range(5)]
    assert reader.read(10) == []
    for entry in entries[:3]:
        reader.ack(entry)
    assert reader.backlog() == 2


def test_full_segment_rotates_and_is_deleted_once_every_record_is_acked(tmp_path: Path) -> None:
    writer, reader = open_spool(tmp_path, max_segment_bytes=200)
    for n in range(10):
        writer.append(encode_line(payload(n)))
    segments = sorted((tmp_path / "segments").glob("*.jsonl"))
    assert len(segments) > 1
    for entry in reader.read(100):
        reader.ack(entry)
    reader.collect()
    remaining = sorted((tmp_path / "segments").glob("*.jsonl"))
    assert remaining == segments[-1:]  # only the one still being written


def test_permissions_keep_the_spool_private(tmp_path: Path) -> None:
    writer, _ = open_spool(tmp_path / "spool")
    writer.append(encode_line(payload(1)))
    assert (tmp_path / "spool").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "spool" / "segments").iterdir():
        assert path.stat().st_mode & 0o777 == 0o600


CRASHING_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from heliograph.spool import SpoolFolder, SpoolWriter, encode_line
    folder = SpoolFolder(sys.argv[1]); folder.ensure()
    writer = SpoolWriter(folder, 1 << 20)
    for n in range(int(sys.argv[2])):
        writer.append(encode_line(b'{"n":%d}' % n))
    if sys.argv[3] == "torn":  # a write cut short by the crash
        os.write(writer._current.lock_fd, encode_line(b'{"n":999}')[:15])
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def crash_writer(root: Path, count: int, torn: bool = False) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CRASHING_WRITER, str(root), str(count), "torn" if torn else ""],
        check=False,
    )
    assert result.returncode == -signal.SIGKILL


def test_segments_of_a_killed_process_are_claimed_and_fully_read(tmp_path: Path) -> None:
    crash_writer(tmp_path, 50)
    _, reader = open_spool(tmp_path)
    assert reader.claim_orphans() == 1
    assert [e.payload for e in reader.read(100)] == [payload(n) for n in range(50)]


def test_torn_last_line_is_quarantined_and_counted_and_the_rest_delivered(tmp_path: Path) -> None:
    crash_writer(tmp_path, 3, torn=True)
    _, reader = open_spool(tmp_path)
    reader.claim_orphans()
    assert [e.payload for e in reader.read(100)] == [payload(n) for n in range(3)]
    assert reader.lost == ["corrupt"]  # type: ignore[attr-defined]
    assert list((tmp_path / "corrupt").glob("*.bad"))


def test_corrupt_line_in_the_middle_does_not_stop_reading(tmp_path: Path) -> None:
    crash_writer(tmp_path, 3)
    segment = next((tmp_path / "segments").glob("*.jsonl"))
    lines = segment.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"n":1', b'"n":7')
    segment.write_bytes(b"".join(lines))
    _, reader = open_spool(tmp_path)
    reader.claim_orphans()
    assert [e.payload for e in reader.read(100)] == [payload(0), payload(2)]
    assert reader.lost == ["corrupt"]  # type: ignore[attr-defined]


def test_acknowledged_records_are_not_read_again_by_the_next_process(tmp_path: Path) -> None:
    crash_writer(tmp_path, 4)
    _, first = open_spool(tmp_path)
    first.claim_orphans()
    entries = first.read(100)
    first.ack(entries[0])
    first.ack(entries[2])
    first.release_all()  # as if this process died before finishing
    _, second = open_spool(tmp_path)
    second.claim_orphans()
    assert [e.payload for e in second.read(100)] == [payload(1), payload(3)]


def test_segment_held_by_a_live_process_cannot_be_claimed(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import sys, time
        from heliograph.spool import SpoolFolder, SpoolWriter, encode_line
        folder = SpoolFolder(sys.argv[1]); folder.ensure()
        SpoolWriter(folder, 1 << 20).append(encode_line(b'{"n":1}'))
        print("ready", flush=True)
        time.sleep(30)
        """
    )
    live = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert live.stdout is not None and live.stdout.readline().strip() == "ready"
        _, reader = open_spool(tmp_path)
        assert reader.claim_orphans() == 0
    finally:
        live.kill()
        live.wait()
        assert live.stdout is not None
        live.stdout.close()
    assert reader.claim_orphans() == 1  # its lock died with it


def test_failed_write_leaves_no_torn_bytes_and_raises_to_the_pipeline(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import resource, signal, sys
        from heliograph.spool import SpoolFolder, SpoolWriter, encode_line
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        folder = SpoolFolder(sys.argv[1]); folder.ensure()
        writer = SpoolWriter(folder, 1 << 20)
        writer.append(encode_line(b'{"n":1}'))
        resource.setrlimit(resource.RLIMIT_FSIZE, (60, 60))
        try:
            writer.append(encode_line(b'{"n":2,"pad":"' + b"x" * 100 + b'"}'))
        except OSError as exc:
            print("refused", exc.errno)
        """
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.startswith("refused")
    segment = next((tmp_path / "segments").glob("*.jsonl"))
    assert segment.read_bytes() == encode_line(b'{"n":1}')


def test_status_counts_pending_records_across_processes(tmp_path: Path) -> None:
    crash_writer(tmp_path, 7)
    status = spool_status(tmp_path)
    assert status.pending == 7
    assert status.segments == 1
    assert status.oldest_pending_age_s is not None and status.oldest_pending_age_s >= 0


def test_forked_child_writes_its_own_segment(tmp_path: Path) -> None:
    writer, _ = open_spool(tmp_path)
    writer.append(encode_line(payload(0)))
    pid = os.fork()
    if pid == 0:  # child
        try:
            writer.append(encode_line(payload(1)))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    writer.append(encode_line(payload(2)))
    contents = sorted(p.read_bytes() for p in (tmp_path / "segments").glob("*.jsonl"))
    assert contents == sorted(
        [encode_line(payload(0)) + encode_line(payload(2)), encode_line(payload(1))]
    )


def test_segment_with_a_released_record_is_kept_until_that_record_is_finished(
    tmp_path: Path,
) -> None:
    crash_writer(tmp_path, 3)
    _, reader = open_spool(tmp_path)
    reader.claim_orphans()
    first, second, third = reader.read(10)
    reader.ack(first)
    reader.release(second)  # e.g. its dead letter could not be written
    reader.ack(third)
    assert reader.collect() == 0
    assert reader.backlog() == 1
    reader.release_all()
    _, next_reader = open_spool(tmp_path)
    next_reader.claim_orphans()
    assert [e.payload for e in next_reader.read(10)] == [payload(1)]


def test_a_vanished_segment_is_skipped_and_the_others_still_read(tmp_path: Path) -> None:
    crash_writer(tmp_path, 2)
    crash_writer(tmp_path, 3)
    _, reader = open_spool(tmp_path)
    assert reader.claim_orphans() == 2
    first = min((tmp_path / "segments").glob("*.jsonl"))
    for held in list(reader._folder.held.values()):  # type: ignore[attr-defined]
        if held.path == first:
            if held.read_fd is not None:
                os.close(held.read_fd)
            held.read_fd = None
    first.unlink()  # gone from under the reader, e.g. deleted by hand
    assert [e.payload for e in reader.read(10)] == [payload(n) for n in range(3)]


def test_a_new_segment_appears_under_its_name_only_once_its_writer_holds_it(
    tmp_path: Path,
) -> None:
    writer, _ = open_spool(tmp_path)
    other_folder = SpoolFolder(tmp_path)  # another reader, as in another process
    other = SpoolReader(other_folder, 1 << 20)
    writer.append(encode_line(payload(1)))
    # Whenever a segment is visible under its final name, its writer already holds it.
    assert other.claim_orphans() == 0
    names = [p.name for p in (tmp_path / "segments").iterdir()]
    assert all(name.endswith(".jsonl") for name in names)


def test_staging_files_are_left_alone_while_young_and_removed_once_abandoned(
    tmp_path: Path,
) -> None:
    _, reader = open_spool(tmp_path)
    young = tmp_path / "segments" / "seg-1.jsonl.new"
    old = tmp_path / "segments" / "seg-2.jsonl.new"
    young.touch()
    old.touch()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert reader.claim_orphans() == 0
    assert young.exists()
    assert not old.exists()
