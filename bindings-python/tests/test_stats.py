"""Consumer stats (core/src/stats.rs through the binding): the counts match what was
actually consumed, reconnects are counted with their cause, and the dicts have the
keys the TypedDicts promise."""

from __future__ import annotations

import asyncio
import typing

import durable_streams_sdk as ds

from conftest import Faults


def keys_of(td: type) -> set[str]:
    return set(typing.get_type_hints(td))


def test_pulled_consumer_counts_what_it_handed_out(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    for part in ["a", "bb", "ccc"]:
        s.append(part)
    c = ds.Consumer(s, live=False, max_chunk_bytes=2)  # small chunks: several batches
    before = c.stats()
    assert before == {"batches": 0, "bytes": 0, "reconnects": 0, "checkpoint": "-1", "last_error": None}
    batches, data = 0, b""
    for event in c:
        if event.kind == "batch":
            assert event.batch is not None
            batches += 1
            data += event.batch.data
    stats = c.stats()
    assert set(stats) == keys_of(ds.ConsumerStats)
    assert data == b"abbccc" and batches >= 3
    assert stats["batches"] == batches and stats["bytes"] == len(data), stats
    assert stats["reconnects"] == 0 and stats["last_error"] is None, stats
    assert stats["checkpoint"] == c.checkpoint == s.head().next_offset


def test_pushed_consumer_counts_batches_and_reconnects(server_url: str, path: str, faults: Faults) -> None:
    # No client retries: the injected 503 reaches the consumer, which reconnects.
    client = ds.Client(server_url, retry=ds.RetryOptions(max_retries=0))
    s = client.stream(path)
    s.create(content_type="text/plain")
    s.append("hello")
    s.append("world!")
    s.close()
    faults.inject(path, status=503, count=1, method="GET")

    class Count(ds.Consumer):
        seen = 0

        def handle_batch(self, batch: ds.Chunk) -> None:
            Count.seen += len(batch.data)

    c = Count(s, live="long-poll", backoff_base=0.05, backoff_max=0.1)
    end = c.run()
    stats = c.stats()
    assert end.reason == "closed"
    assert Count.seen == 11 and stats["bytes"] == 11 and stats["batches"] >= 1, stats
    assert stats["reconnects"] == 1, stats
    assert stats["last_error"] is not None and "503" in stats["last_error"], stats
    assert stats["checkpoint"] == end.offset


def test_async_consumer_stats(server_url: str, path: str) -> None:
    async def main() -> tuple[ds.ConsumerStats, int, int]:
        s = ds.AsyncClient(server_url).stream(path)
        await s.create(content_type="application/json")
        await s.append_json({"n": 1})
        await s.append_json({"n": 2})
        await s.close()
        c = ds.AsyncConsumer(s, live="sse")
        items: list[object] = []
        batches = size = 0
        async for event in c:
            if event.batch is not None:
                items.extend(event.batch.json())
                batches += 1
                size += len(event.batch.data)
        assert items == [{"n": 1}, {"n": 2}]
        return c.stats(), batches, size

    stats, batches, size = asyncio.run(main())
    assert batches >= 1 and stats["batches"] == batches and stats["bytes"] == size > 0, stats
    assert stats["reconnects"] == 0, stats


def test_producer_stats_have_the_typed_keys(client: ds.Client, path: str) -> None:
    s = client.stream(path)
    s.create(content_type="text/plain")
    with s.producer("p") as p:
        p.append("x")
        p.flush()
        stats = p.stats()
    assert set(stats) == keys_of(ds.ProducerStats)
    assert stats["messages_acked"] == 1 and stats["bytes_acked"] == 1, stats
