"""The embedded log: segment files on the local disk, for ``gb serve`` without Kafka.

**Single process, one node, by design.** The directory is locked (``flock``) while a log has it
open; a second process is refused. Several nodes need the Kafka log.

Layout under ``directory``::

    LOCK
    <topic>/partitions                  the partition count (written last, atomically)
    <topic>/<partition>/<base>.log      segments, named by the offset of their first record
    <topic>/groups/<hex(group)>.json    a consumer group's committed positions (atomic rename)

A record on disk is ``crc32 u32 | length u32 | offset i64 | timestamp_ms i64 | key_len u32 |
key | value`` (little-endian); ``length`` counts the bytes after it and the CRC covers all bytes
after the CRC field. A partition only ever grows at the end of its last segment; a segment is
closed for writing once it reaches ``segment_bytes``.

**Group commit.** ``append`` encodes the record, gives it the next offset and queues it; one
flusher writes everything queued since its last round and calls ``fdatasync`` once per touched
segment (in threads, in parallel, so the loop keeps accepting appends for the next round), then
acknowledges the whole round. Under load a round holds many records and shares its syncs.
Consumers only see records below a partition's *high watermark*: synced records.

**Recovery.** ``start`` reads every segment once and checks every record (CRC, length, offset
sequence). The first bad record ends the partition: the file is truncated there (a torn tail
from a crash mid-write) and later segments are removed. Records that were acknowledged were
synced, so they are never part of a torn tail. After a write or sync error the log refuses every
append until it is reopened (the state of the page cache is unknown after a failed ``fsync``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import json
import os
import struct
import time
import zlib
from array import array
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .base import Log, LogConsumer, LogUnavailable, Record, check_topic, partition_for

__all__ = ["EmbeddedConsumer", "EmbeddedLog", "decode_record", "encode_record"]

_HEAD = struct.Struct("<IIqqI")  # crc32, length, offset, timestamp_ms, key length
_PREFIX = 8  # crc32 + length: the bytes the length does not count
_FIXED = _HEAD.size - _PREFIX  # offset + timestamp + key length: the minimum length
_BODY = struct.Struct(
    "<IqqI"
)  # length, offset, timestamp_ms, key length (what the CRC starts with)

INDEX_STRIDE = 64
"""Segments remember the file position of every 64th record; a seek reads at most 63 more."""

READ_CHUNK = 256 * 1024
"""Bytes a consumer reads from a segment at a time."""


def encode_record(offset: int, timestamp_ms: int, key: bytes, value: bytes) -> bytes:
    """The on-disk bytes of one record (see the module docstring for the layout)."""
    body = _BODY.pack(_FIXED + len(key) + len(value), offset, timestamp_ms, len(key))
    crc = zlib.crc32(value, zlib.crc32(key, zlib.crc32(body)))
    return b"".join((crc.to_bytes(4, "little"), body, key, value))


def decode_record(data: bytes, pos: int) -> tuple[int, int, bytes, bytes, int] | None:
    """``(offset, timestamp_ms, key, value, end)`` of the record at ``pos``, or None.

    None when the bytes from ``pos`` hold no complete, intact record: too short, a length
    that cannot be, or a CRC mismatch (a torn or corrupt tail).
    """
    if len(data) - pos < _HEAD.size:
        return None
    crc, length, offset, timestamp_ms, key_len = _HEAD.unpack_from(data, pos)
    end = pos + _PREFIX + length
    if length < _FIXED + key_len or end > len(data):
        return None
    if zlib.crc32(memoryview(data)[pos + 4 : end]) != crc:
        return None
    key_at = pos + _HEAD.size
    return offset, timestamp_ms, data[key_at : key_at + key_len], data[key_at + key_len : end], end


def _segment_name(base: int) -> str:
    return f"{base:020d}.log"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, whole."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class _Segment:
    """One segment file: its first offset, its size (queued bytes included) and sparse index."""

    __slots__ = ("base", "fd", "index", "path", "rfd", "size")

    def __init__(self, path: Path, base: int, size: int = 0) -> None:
        self.path = path
        self.base = base
        self.size = size
        self.index = array("q")  # position of record base + k * INDEX_STRIDE
        self.fd: int | None = None  # write descriptor, owned by the flusher
        self.rfd: int | None = None  # read descriptor, owned by the consumers

    def read(self, pos: int, size: int) -> bytes:
        if self.rfd is None:
            self.rfd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(self.rfd, size, pos)

    def close(self) -> None:
        for fd in (self.fd, self.rfd):
            if fd is not None:
                os.close(fd)
        self.fd = self.rfd = None


class _Partition:
    """A partition's segments, its next offset and its high watermark (synced records)."""

    __slots__ = ("bases", "directory", "hw", "next_offset", "segments")

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.segments: list[_Segment] = []
        self.bases: list[int] = []
        self.next_offset = 0
        self.hw = 0

    def add_segment(self, segment: _Segment) -> None:
        self.segments.append(segment)
        self.bases.append(segment.base)

    def segment_of(self, offset: int) -> _Segment:
        return self.segments[bisect.bisect_right(self.bases, offset) - 1]

    def recover(self) -> int:
        """Load the segments from disk, cut a torn tail; returns the bytes cut away."""
        self.directory.mkdir(parents=True, exist_ok=True)
        paths = sorted(self.directory.glob("*.log"))
        cut = 0
        for i, path in enumerate(paths):
            base = int(path.stem)
            if base != self.next_offset:  # a gap: this and what follows cannot be trusted
                cut += self._remove(paths[i:])
                break
            segment = _Segment(path, base)
            data = path.read_bytes()
            pos = 0
            while (decoded := decode_record(data, pos)) is not None:
                offset, _ts, _key, _value, end = decoded
                if offset != self.next_offset:
                    break
                if (offset - base) % INDEX_STRIDE == 0:
                    segment.index.append(pos)
                self.next_offset += 1
                pos = end
            segment.size = pos
            self.add_segment(segment)
            if pos < len(data):
                os.truncate(path, pos)
                cut += len(data) - pos + self._remove(paths[i + 1 :])
                break
        if not self.segments:
            self.add_segment(_Segment(self.directory / _segment_name(0), 0))
        self.hw = self.next_offset
        return cut

    def _remove(self, paths: Sequence[Path]) -> int:
        removed = 0
        for path in paths:
            removed += path.stat().st_size
            path.unlink()
        with contextlib.suppress(OSError):  # best effort: recovery runs again at the next start
            _fsync_dir(self.directory)
        return removed

    def close(self) -> None:
        for segment in self.segments:
            segment.close()


class _Topic:
    """A topic's partitions and the fetches waiting for its next records."""

    __slots__ = ("directory", "partitions", "waiters")

    def __init__(self, directory: Path, partitions: list[_Partition]) -> None:
        self.directory = directory
        self.partitions = partitions
        self.waiters: set[asyncio.Future[None]] = set()

    def wake(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()


class _Group:
    """A consumer group of one topic: members in join order and committed positions."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: list[EmbeddedConsumer] = []
        self.generation = 0
        self.lock = asyncio.Lock()
        self.committed: dict[int, int] = {}
        if path.exists():
            self.committed = {int(p): int(o) for p, o in json.loads(path.read_bytes()).items()}


class EmbeddedLog(Log):
    """The durable log in local files; one process (one node) only.

    ``partitions_default`` is used for topics that ``append`` or ``consumer`` meet before
    ``ensure_topic`` created them. ``segment_bytes`` is where a segment is closed for writing;
    ``max_record_bytes`` bounds key + value (Kafka's default message size limit, 1 MiB).

    Counters (plain attributes): ``syncs`` (``fdatasync``/``fsync`` calls made for appends),
    ``flushes`` (group-commit rounds), ``appended`` (records acknowledged) and ``recovered_cut``
    (bytes of torn tail removed by the last ``start``).
    """

    name = "embedded"

    def __init__(
        self,
        directory: Path,
        partitions_default: int = 8,
        *,
        segment_bytes: int = 128 << 20,
        max_record_bytes: int = 1 << 20,
    ) -> None:
        self.directory = Path(directory)
        self.partitions_default = partitions_default
        self.segment_bytes = segment_bytes
        self.max_record_bytes = max_record_bytes
        self.syncs = 0
        self.flushes = 0
        self.appended = 0
        self.recovered_cut = 0
        self._topics: dict[str, _Topic] = {}
        self._groups: dict[tuple[str, str], _Group] = {}
        self._topic_lock = asyncio.Lock()
        self._queued: dict[_Segment, list[bytes]] = {}  # the next round's bytes, per segment
        self._queued_ends: dict[_Partition, int] = {}  # the next round's end offset, per partition
        self._round: asyncio.Future[None] | None = None  # completes when the next round is synced
        self._flusher: asyncio.Task[None] | None = None
        self._failed: OSError | None = None
        self._lock_fd: int | None = None
        self._sync_pool: ThreadPoolExecutor | None = None
        self._open = False

    async def start(self) -> None:
        """Lock the directory and recover every topic; RuntimeError if another process has it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / "LOCK", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RuntimeError(f"embedded log {self.directory} is in use by another log") from None
        self._lock_fd = fd
        self._sync_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="gb-log-sync")
        self.recovered_cut = await asyncio.to_thread(self._recover)
        self._failed = None
        self._open = True

    def _recover(self) -> int:
        cut = 0
        for meta in sorted(self.directory.glob("*/partitions")):
            count = int(meta.read_text())
            partitions = [_Partition(meta.parent / str(p)) for p in range(count)]
            cut += sum(partition.recover() for partition in partitions)
            self._topics[meta.parent.name] = _Topic(meta.parent, partitions)
        return cut

    async def close(self) -> None:
        """Sync and acknowledge what is queued, then close every file and unlock the directory."""
        if not self._open:
            return
        self._open = False
        if self._flusher is not None:
            await self._flusher
        for topic in self._topics.values():
            topic.wake()
            for partition in topic.partitions:
                partition.close()
        self._topics.clear()
        self._groups.clear()
        assert self._sync_pool is not None
        self._sync_pool.shutdown()
        self._sync_pool = None
        assert self._lock_fd is not None
        os.close(self._lock_fd)  # releases the flock
        self._lock_fd = None

    async def ensure_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` (its directories, then its partition count file, synced)."""
        self._check_open()
        if topic not in self._topics:
            await self._create_topic(topic, partitions)

    async def _create_topic(self, name: str, partitions: int) -> _Topic:
        check_topic(name, partitions)
        async with self._topic_lock:
            topic = self._topics.get(name)
            if topic is None:
                topic = await asyncio.to_thread(self._make_topic, name, partitions)
                self._topics[name] = topic
            return topic

    def _make_topic(self, name: str, count: int) -> _Topic:
        directory = self.directory / name
        partitions = [_Partition(directory / str(p)) for p in range(count)]
        for partition in partitions:
            partition.recover()  # creates the directory; finds nothing in a new topic
        (directory / "groups").mkdir(exist_ok=True)
        _write_atomic(directory / "partitions", str(count).encode())
        _fsync_dir(self.directory)
        return _Topic(directory, partitions)

    def _check_open(self) -> None:
        if not self._open:
            raise LogUnavailable(f"embedded log {self.directory} is not open")

    async def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            topic = await self._create_topic(name, self.partitions_default)
        return topic

    async def append(self, topic: str, key: bytes, value: bytes) -> tuple[int, int]:
        """Queue the record for the next group-commit round; return once that round is synced."""
        self._check_open()
        if len(key) + len(value) > self.max_record_bytes:
            raise ValueError(f"record of {len(key) + len(value)} bytes > {self.max_record_bytes}")
        if self._failed is not None:
            raise LogUnavailable(f"embedded log failed earlier, reopen it: {self._failed}")
        t = self._topics.get(topic) or await self._topic(topic)
        number = partition_for(key, len(t.partitions))
        partition = t.partitions[number]
        segment = partition.segments[-1]
        if segment.size >= self.segment_bytes:
            segment = _Segment(partition.directory / _segment_name(partition.next_offset),
                               partition.next_offset)  # fmt: skip
            partition.add_segment(segment)
        offset = partition.next_offset
        partition.next_offset += 1
        data = encode_record(offset, int(time.time() * 1000), key, value)
        if (offset - segment.base) % INDEX_STRIDE == 0:
            segment.index.append(segment.size)
        segment.size += len(data)
        queued = self._queued.get(segment)
        if queued is None:
            self._queued[segment] = [data]
        else:
            queued.append(data)
        self._queued_ends[partition] = partition.next_offset
        done = self._round
        if done is None:
            done = self._round = asyncio.get_running_loop().create_future()
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await asyncio.shield(done)  # one caller's cancellation must not fail the round
        return number, offset

    async def _flush(self) -> None:
        """Sync round after round while appends keep coming, one round at a time."""
        while self._queued:
            queued, self._queued = self._queued, {}
            ends, self._queued_ends = self._queued_ends, {}
            done, self._round = self._round, None
            assert done is not None
            try:
                if self._failed is not None:
                    raise self._failed
                await asyncio.to_thread(self._write, queued)
            except OSError as exc:
                self._failed = exc
                done.set_exception(LogUnavailable(f"embedded log write failed: {exc}"))
                continue
            self.flushes += 1
            self.appended += sum(len(chunks) for chunks in queued.values())
            for partition, end in ends.items():
                partition.hw = end
                for segment in partition.segments[:-1]:
                    if segment.fd is not None:  # full: no more writes will come
                        os.close(segment.fd)
                        segment.fd = None
            for topic in self._topics.values():
                topic.wake()
            done.set_result(None)
        self._flusher = None

    def _write(self, queued: dict[_Segment, list[bytes]]) -> None:
        """Write and sync one round (runs in a thread); new segment files sync their directory."""
        new_dirs: set[Path] = set()
        for segment, chunks in queued.items():
            if segment.fd is None:
                flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
                segment.fd = os.open(segment.path, flags, 0o644)
                new_dirs.add(segment.path.parent)
            view = memoryview(b"".join(chunks))
            while view:
                view = view[os.write(segment.fd, view) :]
        fds = [segment.fd for segment in queued if segment.fd is not None]
        if len(fds) == 1:
            os.fdatasync(fds[0])
        else:  # in parallel: the disk takes concurrent flushes (64 appenders: 12k -> 20k/s)
            assert self._sync_pool is not None
            list(self._sync_pool.map(os.fdatasync, fds))
        self.syncs += len(fds)
        for directory in new_dirs:
            _fsync_dir(directory)
            self.syncs += 1

    def consumer(self, topic: str, group: str) -> EmbeddedConsumer:
        """A member of ``group``; partitions are dealt to members round-robin in join order."""
        return EmbeddedConsumer(self, topic, group)

    async def _join(self, member: EmbeddedConsumer) -> tuple[_Topic, _Group]:
        self._check_open()
        topic = await self._topic(member.topic)
        key = (member.topic, member.group)
        group = self._groups.get(key)
        if group is None:
            path = topic.directory / "groups" / f"{member.group.encode().hex()}.json"
            group = self._groups[key] = _Group(path)
        group.members.append(member)
        group.generation += 1
        topic.wake()
        return topic, group


class EmbeddedConsumer(LogConsumer):
    """A member of a consumer group of an :class:`EmbeddedLog` (same process).

    Partition ``p`` belongs to the ``p % n``-th of the group's ``n`` members in join order; a
    join or leave deals them again at once and each member picks up its new partitions on its
    next fetch, from the group's committed positions. Commits only move positions forward.
    """

    def __init__(self, log: EmbeddedLog, topic: str, group: str) -> None:
        self.log = log
        self.topic = topic
        self.group = group
        self._topic: _Topic | None = None
        self._group: _Group | None = None
        self._generation = -1
        self._positions: dict[int, int] = {}  # owned partition -> next offset to read
        self._cursors: dict[int, tuple[int, _Segment, int]] = {}  # partition -> (offset, seg, pos)
        self._turn = 0

    @property
    def assignment(self) -> frozenset[int]:
        """The partitions this member reads now."""
        self._sync_assignment()
        return frozenset(self._positions)

    async def start(self) -> None:
        """Join the group (creating the topic with the log's default partitions if needed)."""
        self._topic, self._group = await self.log._join(self)

    async def close(self) -> None:
        """Leave the group; the other members take its partitions on their next fetch."""
        group, self._group = self._group, None
        if group is not None and self in group.members:
            group.members.remove(self)
            group.generation += 1
            assert self._topic is not None
            self._topic.wake()
        self._positions.clear()

    def _sync_assignment(self) -> None:
        group = self._group
        if group is None or group.generation == self._generation:
            return
        self._generation = group.generation
        assert self._topic is not None
        n, me = len(group.members), group.members.index(self)
        owned = [p for p in range(len(self._topic.partitions)) if p % n == me]
        self._positions = {p: self._positions.get(p, group.committed.get(p, 0)) for p in owned}
        self._cursors = {p: c for p, c in self._cursors.items() if p in self._positions}

    async def fetch(self, max_records: int, timeout: float) -> list[Record]:  # noqa: ASYNC109
        """Records after this member's positions; waits on the topic (no polling) up to timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self._group is None or not self.log._open:
                return []
            self._sync_assignment()
            records = self._read(max_records)
            remaining = deadline - loop.time()
            if records or remaining <= 0:
                return records
            assert self._topic is not None
            waiter: asyncio.Future[None] = loop.create_future()
            self._topic.waiters.add(waiter)
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                return []
            finally:
                self._topic.waiters.discard(waiter)

    def _read(self, max_records: int) -> list[Record]:
        """Read synced records, taking the owned partitions in turn so none starves."""
        assert self._topic is not None
        owned = sorted(self._positions)
        out: list[Record] = []
        self._turn += 1
        for i in range(len(owned)):
            number = owned[(self._turn + i) % len(owned)]
            if len(out) >= max_records:
                break
            out.extend(self._read_partition(number, max_records - len(out)))
        return out

    def _read_partition(self, number: int, limit: int) -> list[Record]:
        assert self._topic is not None
        partition = self._topic.partitions[number]
        offset = self._positions[number]
        out: list[Record] = []
        while len(out) < limit and offset < partition.hw:
            segment, pos, at = self._locate(number, partition, offset)
            data = segment.read(pos, READ_CHUNK)
            if decode_record(data, 0) is None:  # a record larger than the chunk, or damage
                length = min(int.from_bytes(data[4:8], "little"), self.log.max_record_bytes)
                data = segment.read(pos, _HEAD.size + length)
                if decode_record(data, 0) is None:
                    raise LogUnavailable(f"embedded log: corrupt record in {segment.path} @{pos}")
            i = 0
            while len(out) < limit and at < partition.hw:
                decoded = decode_record(data, i)
                if decoded is None:  # the chunk ends inside this record
                    break
                rec_offset, timestamp_ms, key, value, i = decoded
                if rec_offset >= offset:
                    out.append(Record(number, rec_offset, key, value, timestamp_ms))
                at = rec_offset + 1
            offset = max(offset, at)
            self._cursors[number] = (at, segment, pos + i)
        self._positions[number] = offset
        return out

    def _locate(self, number: int, partition: _Partition, offset: int) -> tuple[_Segment, int, int]:
        """``(segment, position, offset there)``: the closest known record at or before offset."""
        segment = partition.segment_of(offset)
        slot = (offset - segment.base) // INDEX_STRIDE
        pos, at = segment.index[slot], segment.base + slot * INDEX_STRIDE
        cursor = self._cursors.get(number)
        if cursor is not None and cursor[1] is segment and at <= cursor[0] <= offset:
            at, _, pos = cursor  # where the previous read stopped: no re-reading
        return segment, pos, at

    async def positions(self) -> dict[int, int]:
        """The next offset to read per owned partition (nothing before ``start``)."""
        self._sync_assignment()
        return dict(self._positions)

    async def end_offsets(self) -> dict[int, int]:
        """The high watermark (synced records) per owned partition."""
        self._sync_assignment()
        if self._topic is None:
            return {}
        return {p: self._topic.partitions[p].hw for p in self._positions}

    async def commit(self, records: Sequence[Record]) -> None:
        """Store the positions after ``records`` for owned partitions (synced, atomic rename)."""
        self._sync_assignment()
        group = self._group
        if group is None:
            raise LogUnavailable("embedded consumer is not started")
        ahead: dict[int, int] = {}
        for record in records:
            if record.partition in self._positions:
                ahead[record.partition] = max(ahead.get(record.partition, 0), record.offset + 1)
        async with group.lock:
            committed = dict(group.committed)
            for number, offset in ahead.items():
                committed[number] = max(committed.get(number, 0), offset)
            if committed == group.committed:
                return
            data = json.dumps({str(p): o for p, o in sorted(committed.items())}).encode()
            try:
                await asyncio.to_thread(_write_atomic, group.path, data)
            except OSError as exc:
                raise LogUnavailable(
                    f"embedded log: commit of {self.group!r} failed: {exc}"
                ) from exc
            group.committed = committed
