package dev.durablestreams.sdk

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.takeWhile
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Test
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.EnumSource
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNotNull
import kotlin.test.assertTrue

class SdkTest {
    private val client = Client(RefServer.url)

    private suspend fun fresh(name: String, contentType: String = "text/plain"): Stream =
        client.stream(RefServer.freshPath(name), contentType).also { it.create(contentType = contentType) }

    @Test
    fun `create append head read and delete`() = runBlocking<Unit> {
        val s = client.stream(RefServer.freshPath("basic"))
        val created = s.create(contentType = "text/plain")
        assertTrue(created.created)
        assertEquals(201, created.status.toInt())
        s.appendText("hello ")
        s.append("world".encodeToByteArray())
        val meta = s.head()
        assertEquals("text/plain", meta.contentType)
        assertEquals(false, meta.closed)
        assertEquals("hello world", s.readAll().decodeToString())
        val chunks = s.read().toList()
        assertEquals("hello world", chunks.joinToString("") { it.data.decodeToString() })
        assertEquals(meta.nextOffset, chunks.last().nextOffset)
        s.delete()
        assertFailsWith<StreamNotFoundException> { s.head() }
    }

    @ParameterizedTest
    @EnumSource(value = LiveMode::class, names = ["LONG_POLL", "SSE", "AUTO"])
    fun `live reads see later appends and end when the stream closes`(mode: LiveMode) = runBlocking<Unit> {
        val s = fresh("live-$mode", JSON)
        s.appendJson("""{"n":0}""")
        val path = s.url.substringAfter(RefServer.url)
        val reader = async { s.readJson(live = mode) { it }.toList() }
        delay(300)
        RefServer.httpAppend(path, """[{"n":1},{"n":2}]""", JSON)
        delay(200)
        s.close("""{"n":3}""".encodeToByteArray())
        val items = withTimeout(10_000) { reader.await() }
        assertEquals(listOf("""{"n":0}""", """{"n":1}""", """{"n":2}""", """{"n":3}"""), items)
    }

    @Test
    fun `json items go through the decoder hook`() = runBlocking<Unit> {
        val s = fresh("decoder", JSON)
        s.appendJson("""{"n":41}""")
        s.appendJson("""{"n":42}""")
        val ns = s.readJson { Regex("\\d+").find(it)!!.value.toInt() }.toList()
        assertEquals(listOf(41, 42), ns)
    }

    @Test
    fun `cancelling the collector stops the read in Rust`() = runBlocking<Unit> {
        val polls = AtomicInteger()
        val counting = Client(RefServer.url, dynamicHeaders = mapOf("x-poll" to { polls.incrementAndGet().toString() }))
        val s = counting.stream(RefServer.freshPath("cancel-read"), "text/plain")
        s.create(contentType = "text/plain")
        val job = launch { s.read(live = LiveMode.LONG_POLL).collect {} }
        delay(1_500) // the reference server answers an idle long-poll after 500 ms
        assertTrue(polls.get() >= 2, "long-poll requests sent: ${polls.get()}")
        job.cancel()
        job.join()
        delay(200)
        val after = polls.get()
        delay(1_200)
        assertEquals(after, polls.get(), "requests were still being sent after cancellation")
    }

    @Test
    fun `cancelling a coroutine aborts the Rust task (its callback future is dropped)`() = runBlocking<Unit> {
        val entered = CompletableDeferred<Unit>()
        val dropped = CompletableDeferred<Unit>()
        val hanging = Client(
            RefServer.url,
            dynamicHeaders = mapOf(
                "x-hang" to {
                    entered.complete(Unit)
                    try {
                        awaitCancellation()
                    } finally {
                        dropped.complete(Unit)
                    }
                },
            ),
        )
        val s = hanging.stream(RefServer.freshPath("cancel-append"), "text/plain")
        val job = launch { s.appendText("never sent") }
        withTimeout(5_000) { entered.await() }
        job.cancel()
        withTimeout(5_000) { dropped.await() }
        assertTrue(job.isCancelled)
    }

    @Test
    fun `dynamic headers are evaluated on every request`() = runBlocking<Unit> {
        val n = AtomicInteger()
        val c = Client(RefServer.url, dynamicHeaders = mapOf("x-count" to { n.incrementAndGet().toString() }))
        val s = c.stream(RefServer.freshPath("dyn"), "text/plain")
        s.create(contentType = "text/plain")
        assertEquals(mapOf("x-count" to "2"), s.appendText("a").sentHeaders)
        assertEquals(mapOf("x-count" to "3"), s.appendText("b").sentHeaders)
    }

    @Test
    fun `exceptions carry code status and typed details`() = runBlocking<Unit> {
        val missing = client.stream(RefServer.freshPath("missing"), "text/plain")
        val nf = assertFailsWith<StreamNotFoundException> { missing.appendText("x") }
        assertEquals("NOT_FOUND", nf.code)
        assertEquals(404, nf.status)
        assertIs<DurableStreamException>(nf)

        val s = fresh("closed")
        s.appendText("x")
        val final = s.close().finalOffset
        val closed = assertFailsWith<StreamClosedException> { s.appendText("y") }
        assertEquals("STREAM_CLOSED", closed.code)
        assertEquals(409, closed.status)
        assertEquals(final, closed.nextOffset)

        val bad = assertFailsWith<InvalidArgumentException> { s.producer("p", epoch = -1) }
        assertEquals("INVALID_ARGUMENT", bad.code)
        assertTrue("epoch" in bad.message!!, bad.message)

        val mismatch = assertFailsWith<ConflictException> { fresh("ct").append("1".encodeToByteArray(), contentType = JSON) }
        assertEquals(409, mismatch.status)
    }

    @Test
    fun `producer use block flushes and per-message acks resolve`() = runBlocking<Unit> {
        val s = fresh("producer", JSON)
        val ack = s.producer("p1").use { p ->
            for (i in 0 until 99) p.append("""{"i":$i}""")
            val ack = p.appendAsync("""{"i":99}""".encodeToByteArray())
            p.send("""{"i":100}""".encodeToByteArray())
            ack
        }
        val acked = ack.await()
        assertEquals(false, acked.duplicate)
        val items = s.readJson().toList()
        assertEquals((0..100).map { """{"i":$it}""" }, items)
    }

    @Test
    fun `producer writes exactly once while the server injects faults`() = runBlocking<Unit> {
        val s = fresh("faults", JSON)
        val path = s.url.substringAfter(RefServer.url)
        val faults = listOf(
            """{"status":503,"count":100000,"probability":0.05,"method":"POST"}""",
            """{"status":500,"count":100000,"probability":0.05,"method":"POST"}""",
            """{"status":429,"retryAfter":0,"count":100000,"probability":0.05,"method":"POST"}""",
            """{"dropConnection":true,"count":100000,"probability":0.02,"method":"POST"}""",
            """{"delayMs":20,"jitterMs":30,"count":100000,"probability":0.1,"method":"POST"}""",
            """{"status":503,"count":1,"method":"POST"}""",
            """{"dropConnection":true,"count":1,"method":"POST"}""",
        )
        val total = 3_000
        val rotation = launch(kotlinx.coroutines.Dispatchers.IO) {
            var i = 0
            while (true) {
                RefServer.inject(path, faults[i++ % faults.size])
                delay(50)
            }
        }
        val p = s.producer("faulty", maxInFlight = 4, lingerMs = 2.0, maxBatchItems = 50)
        for (i in 0 until total) {
            p.send("""{"seq":$i}""".encodeToByteArray())
            if (i % 500 == 0) delay(20)
        }
        p.flush()
        rotation.cancel()
        rotation.join()
        RefServer.disarm(path)
        p.detach()
        val seqs = s.readJson { Regex("\\d+").find(it)!!.value.toInt() }.toList()
        assertEquals(total, seqs.size, "duplicates or losses")
        assertEquals((0 until total).toList(), seqs)
        assertTrue(p.counters.failures > 0u, "no fault hit the producer: ${p.counters}")
    }

    @Test
    fun `consumer as a callback interface`() = runBlocking<Unit> {
        val s = fresh("consume", JSON)
        s.appendJson("""{"a":1}""")
        s.appendJson("""{"a":2}""")
        s.close()
        val seen = mutableListOf<String>()
        val job = s.consume(ConsumerSettings(live = LiveMode.LONG_POLL), object : ConsumerHandler {
            override suspend fun handleBatch(chunk: Chunk): Decision {
                synchronized(seen) { seen += chunk.items.orEmpty() }
                return Decision.CONTINUE
            }
        })
        val end = withTimeout(10_000) { job.await() }
        assertIs<ConsumerEnd.Closed>(end)
        assertEquals(listOf("""{"a":1}""", """{"a":2}"""), seen)
        job.close()
    }

    @Test
    fun `consumer as a flow of events`() = runBlocking<Unit> {
        val s = fresh("events")
        s.appendText("one")
        val events = async { s.consumer(ConsumerSettings(live = LiveMode.LONG_POLL)).toList() }
        delay(300)
        s.appendText("two")
        s.close()
        val evs = withTimeout(10_000) { events.await() }
        val text = evs.filterIsInstance<ConsumerEvent.Batch>().joinToString("") { it.chunk.data.decodeToString() }
        assertEquals("onetwo", text)
        assertIs<ConsumerEvent.Closed>(evs.last())
        assertNotNull(evs.filterIsInstance<ConsumerEvent.UpToDate>().firstOrNull())
    }
}
