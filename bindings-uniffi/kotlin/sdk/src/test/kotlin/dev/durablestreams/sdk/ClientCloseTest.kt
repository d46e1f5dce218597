package dev.durablestreams.sdk

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Test
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.EnumSource
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue

/**
 * Closing a client closes what was made from it, through the core's `Client::close`
 * (as in Python and Node): calls fail with CLOSED, live reads end, producers flush.
 * Each test runs with both ways of closing: [Client.close] (blocking) and
 * [Client.shutdown] (suspending).
 */
class ClientCloseTest {
    enum class Way { CLOSE, SHUTDOWN }

    private suspend fun Client.closeBy(way: Way) = when (way) {
        Way.CLOSE -> close()
        Way.SHUTDOWN -> shutdown()
    }

    /** Reads what the server stored, through a client nobody closes. */
    private val reader = Client(RefServer.url)

    private suspend fun stored(path: String) = reader.stream(path, JSON).readJson().toList()

    private fun messages(n: Int) = (0 until n).map { """{"i":$it}""" }

    @ParameterizedTest
    @EnumSource(Way::class)
    fun `after close the client and streams made before fail with ClosedException`(way: Way) = runBlocking<Unit> {
        val c = Client(RefServer.url)
        val s = c.stream(RefServer.freshPath("closed-client"), "text/plain")
        s.create(contentType = "text/plain")
        s.appendText("before")
        assertFalse(c.isClosed)
        c.closeBy(way)
        assertTrue(c.isClosed)
        val refused = assertFailsWith<ClosedException> { c.stream(RefServer.freshPath("after")) }
        assertEquals("CLOSED", refused.code)
        assertEquals("CLOSED", assertFailsWith<ClosedException> { s.appendText("after") }.code)
        assertFailsWith<ClosedException> { s.head() }
        assertFailsWith<ClosedException> { s.readAll() }
        assertFailsWith<ClosedException> { s.producer("after-close") }
        // The refused append was not sent.
        assertEquals("before", reader.stream(s.url.substringAfter(RefServer.url)).readAll().decodeToString())
    }

    @ParameterizedTest
    @EnumSource(value = LiveMode::class, names = ["LONG_POLL", "SSE"])
    fun `closing the client ends a live read in progress`(mode: LiveMode) = runBlocking<Unit> {
        for (way in Way.values()) {
            val c = Client(RefServer.url)
            val s = c.stream(RefServer.freshPath("live-close-$mode"), JSON)
            s.create(contentType = JSON)
            s.appendJson("""{"n":0}""")
            val items = mutableListOf<String>()
            val caughtUp = CompletableDeferred<Unit>()
            val read = launch {
                s.readJson(live = mode) { it }.collect {
                    items += it
                    caughtUp.complete(Unit)
                }
            }
            withTimeout(5_000) { caughtUp.await() }
            delay(700) // the read waits for more, past a reference-server long-poll round
            assertFalse(read.isCompleted, "the live read ended by itself")
            c.closeBy(way)
            assertTrue(withTimeoutOrNull(5_000) { read.join() } != null, "$way: the live read did not end with the client")
            assertEquals(listOf("""{"n":0}"""), items)
        }
    }

    @ParameterizedTest
    @EnumSource(Way::class)
    fun `closing the client stops its consumers`(way: Way) = runBlocking<Unit> {
        val c = Client(RefServer.url)
        val s = c.stream(RefServer.freshPath("consumers-close"), JSON)
        s.create(contentType = JSON)
        s.appendJson("""{"n":0}""")
        val handled = CompletableDeferred<Unit>()
        val pushed = s.consume(ConsumerSettings(live = LiveMode.LONG_POLL), object : ConsumerHandler {
            override suspend fun handleBatch(chunk: Chunk): Decision {
                handled.complete(Unit)
                return Decision.CONTINUE
            }
        })
        val events = mutableListOf<ConsumerEvent>()
        val upToDate = CompletableDeferred<Unit>()
        val pulled = launch {
            s.consumer(ConsumerSettings(live = LiveMode.SSE)).collect {
                events += it
                if (it is ConsumerEvent.UpToDate) upToDate.complete(Unit)
            }
        }
        withTimeout(5_000) {
            handled.await()
            upToDate.await()
        }
        delay(700)
        c.closeBy(way)
        val end = withTimeoutOrNull(5_000) { pushed.await() }
        assertIs<ConsumerEnd.Stopped>(end, "$way: the pushed consumer did not stop with the client")
        assertTrue(withTimeoutOrNull(5_000) { pulled.join() } != null, "$way: the consumer flow did not end with the client")
        assertIs<ConsumerEvent.Batch>(events.first())
        pushed.close()
    }

    @ParameterizedTest
    @EnumSource(Way::class)
    fun `every message appended to a producer is stored when close returns`(way: Way) = runBlocking<Unit> {
        val c = Client(RefServer.url)
        val path = RefServer.freshPath("producer-close")
        val s = c.stream(path, JSON)
        s.create(contentType = JSON)
        // Nothing would go out for 10 s by itself, and the first batch is held 500 ms by
        // the server: close has to flush, and to wait for it.
        RefServer.inject(path, """{"delayMs":500,"count":1,"method":"POST"}""")
        val p = s.producer("closer", lingerMs = 10_000.0, maxBatchItems = 1_000)
        for (m in messages(200)) p.append(m)
        c.closeBy(way)
        assertEquals(messages(200), stored(path))
        assertFailsWith<ClosedException> { p.append("""{"late":true}""") }
        p.close() // already detached by the client: nothing to do
    }

    @Test
    fun `close past its timeout throws and the producers flush on`() = runBlocking<Unit> {
        val (c, path) = heldBatch("close-timeout")
        c.closeTimeoutMs = 200
        assertFailsWith<TimeoutException> { c.close() }
        assertTrue(c.isClosed)
        assertFailsWith<ClosedException> { c.stream(path) }
        assertEquals(messages(50), withTimeout(10_000) { eventually(path, 50) })
    }

    @Test
    fun `cancelling shutdown stops the wait, not the flush`() = runBlocking<Unit> {
        val (c, path) = heldBatch("shutdown-cancel")
        val waiting = launch { c.shutdown() }
        delay(200)
        assertFalse(waiting.isCompleted, "shutdown did not wait for the held batch")
        waiting.cancel()
        withTimeout(1_000) { waiting.join() }
        assertTrue(c.isClosed)
        assertEquals(messages(50), withTimeout(10_000) { eventually(path, 50) })
    }

    @Test
    fun `a second close waits for the first close's flush`() = runBlocking<Unit> {
        val (c, path) = heldBatch("close-again")
        val first = launch { c.shutdown() }
        delay(200)
        assertFalse(first.isCompleted, "the first close did not wait for the held batch")
        first.cancel()
        c.close() // blocks until that same flush is done
        assertEquals(messages(50), stored(path))
        withTimeout(1_000) { first.join() }
    }

    @Test
    fun `closing twice leaves it closed`() = runBlocking<Unit> {
        val c = Client(RefServer.url)
        val s = c.stream(RefServer.freshPath("twice"), "text/plain")
        c.close()
        c.close()
        c.shutdown()
        c.use { }
        assertTrue(c.isClosed)
        assertFailsWith<ClosedException> { c.stream("/x") }
        assertFailsWith<ClosedException> { s.head() }
        val d = Client(RefServer.url)
        d.shutdown()
        d.shutdown()
        d.close()
        assertFailsWith<ClosedException> { d.stream("/x") }
    }

    /**
     * A client whose producer has appended 50 messages, sent at once (no linger) as a batch
     * the server holds for 1.5 s: a close has that long to be seen waiting.
     */
    private suspend fun heldBatch(name: String): Pair<Client, String> {
        val c = Client(RefServer.url)
        val path = RefServer.freshPath(name)
        c.stream(path, JSON).create(contentType = JSON)
        RefServer.inject(path, """{"delayMs":1500,"count":1,"method":"POST"}""")
        val p = c.stream(path, JSON).producer("held", lingerMs = 0.0)
        for (m in messages(50)) p.append(m)
        return c to path
    }

    /** The stored messages once there are [n] of them. */
    private suspend fun eventually(path: String, n: Int): List<String> {
        while (true) {
            val got = stored(path)
            if (got.size >= n) return got
            delay(50)
        }
    }
}
