package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.liveOperations
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * Cancelling a coroutine that waits on producer work (back-pressure, flush, an ack)
 * aborts the Rust task behind the wait, returns at once, and costs no message: the
 * producer's batches are its own, so what was enqueued is still stored exactly once and
 * the producer keeps working.
 *
 * Every test holds the producer's first POST at the reference server for [HOLD_MS]
 * (its fault injection), so the waits below are really pending when cancelled.
 */
class ProducerCancellationTest {
    private val client = Client(RefServer.url)

    private suspend fun heldStream(name: String): Stream {
        val s = client.stream(RefServer.freshPath(name), JSON)
        s.create(contentType = JSON)
        RefServer.inject(s.url.substringAfter(RefServer.url), """{"delayMs":$HOLD_MS,"count":1,"method":"POST"}""")
        return s
    }

    /** One request at a time, one message per request, room for two buffered messages. */
    private fun Stream.tightProducer(id: String) =
        producer(id, maxInFlight = 1, maxBatchItems = 1, lingerMs = 0.0, bufferLimitBytes = 2L * (7 + 96) + 10)

    private fun msg(i: Int) = """{"i":$i}""".encodeToByteArray()

    private suspend fun stored(s: Stream) = s.readJson().toList()

    private fun expected(vararg i: Int) = i.map { """{"i":$it}""" }

    /**
     * The binding's live Rust tasks once earlier tests' have ended (at most 5 s), so a
     * task ending late cannot pass for one aborted here.
     */
    private suspend fun quietLive(): Long {
        withTimeoutOrNull(5_000) {
            while (liveOperations() > 0u) delay(20)
        }
        return liveOperations().toLong()
    }

    /** Wait (bounded, well below the server's hold) until live Rust tasks are back to [n] or fewer. */
    private suspend fun awaitLive(n: Long) {
        val settled = withTimeoutOrNull(500) {
            while (liveOperations().toLong() > n) delay(10)
        }
        assertTrue(settled != null, "Rust tasks still running after cancellation: ${liveOperations()} > $n")
    }

    @Test
    fun `cancelling a send waiting for buffer room aborts the wait, the message keeps its place`() = runBlocking<Unit> {
        val s = heldStream("cancel-send")
        val p = s.tightProducer("cancel-send")
        p.append(msg(0)) // in flight, held by the server
        p.append(msg(1)) // buffered: the buffer is now full
        val before = quietLive()
        val send = launch(start = CoroutineStart.UNDISPATCHED) { p.send(msg(2)) }
        delay(300)
        assertTrue(send.isActive, "send did not wait for buffer room")
        assertEquals(before + 1, liveOperations().toLong(), "the waiting send has no Rust task")

        val t0 = System.nanoTime()
        send.cancel()
        withTimeout(1_000) { send.join() }
        val cancelMs = (System.nanoTime() - t0) / 1_000_000
        assertTrue(cancelMs < HOLD_MS / 2, "cancel took $cancelMs ms: it waited for the server")
        assertTrue(send.isCancelled)
        awaitLive(before)

        // Still usable; the cancelled message was enqueued by its call and is not withdrawn.
        assertEquals(false, p.append(msg(3)), "msg 3 should queue behind the waiting msg 2")
        withTimeout(10_000) { p.flush() }
        p.detach()
        assertEquals(expected(0, 1, 2, 3), stored(s))
    }

    @Test
    fun `cancelling a flush returns at once and a later flush still sees everything stored`() = runBlocking<Unit> {
        val s = heldStream("cancel-flush")
        val p = s.tightProducer("cancel-flush")
        p.append(msg(0))
        p.append(msg(1))
        val before = quietLive()
        val t0 = System.nanoTime()
        // withTimeoutOrNull cancels the flush coroutine after 200 ms (structured concurrency).
        assertNull(withTimeoutOrNull(200) { p.flush() }, "flush finished while the server held the batch")
        val cancelMs = (System.nanoTime() - t0) / 1_000_000
        assertTrue(cancelMs < HOLD_MS / 2, "the cancelled flush returned after $cancelMs ms")
        awaitLive(before)

        p.append(msg(2))
        withTimeout(10_000) { p.flush() }
        assertTrue((System.nanoTime() - t0) / 1_000_000 >= HOLD_MS - 100, "the second flush did not wait for the held batch")
        assertEquals(expected(0, 1, 2), stored(s))
        p.detach()
    }

    @Test
    fun `cancelling an acknowledgement Deferred cancels only that wait`() = runBlocking<Unit> {
        val s = heldStream("cancel-ack")
        val p = s.tightProducer("cancel-ack")
        val before = quietLive()
        val first = p.appendAsync(msg(0))
        val second = p.appendAsync(msg(1))
        delay(300)
        assertTrue(first.isActive && second.isActive, "acks resolved while the server held the batch")
        assertEquals(before + 2, liveOperations().toLong(), "each pending ack has a Rust task")

        first.cancel()
        withTimeout(1_000) { first.join() }
        assertTrue(first.isCancelled)
        awaitLive(before + 1)

        val acked = withTimeout(10_000) { second.await() }
        assertEquals(false, acked.duplicate)
        assertEquals(1L, acked.seq.toLong())
        p.flush()
        p.detach()
        assertEquals(expected(0, 1), stored(s))
        awaitLive(before)
    }

    private companion object {
        const val HOLD_MS = 2_000L
    }
}
