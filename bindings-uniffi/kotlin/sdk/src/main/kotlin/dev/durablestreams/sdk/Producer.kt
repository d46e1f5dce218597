package dev.durablestreams.sdk

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Deferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import dev.durablestreams.sdk.ffi.Producer as NativeProducer

typealias Acked = dev.durablestreams.sdk.ffi.Acked
typealias ProducerCounters = dev.durablestreams.sdk.ffi.ProducerCounters

/**
 * The idempotent producer: batches, pipelines and retries so that every message is
 * stored exactly once, in call order (also across threads). `use {}` flushes and
 * detaches (the stream stays open); [closeStream] closes the stream.
 */
class Producer internal constructor(private val native: NativeProducer) : AutoCloseable {
    private val acks = CoroutineScope(SupervisorJob() + Dispatchers.Default)

    /**
     * Enqueue without suspending. The message's place is fixed by this call; returns
     * `false` if it had to wait in line for buffer room (it still goes out, in order).
     */
    fun append(data: ByteArray): Boolean = native { native.enqueue(data) }

    fun append(text: String): Boolean = append(text.encodeToByteArray())

    /**
     * Enqueue many messages in one crossing, in order. Every call into the native
     * library costs tens of µs (bindings-uniffi/README.md, Benchmark): at high rates,
     * batch through this.
     */
    fun appendAll(messages: List<ByteArray>): Boolean = native { native.enqueueMany(messages) }

    /** Enqueue without waiting, or throw [BufferFullException] at the buffer limit. */
    fun tryAppend(data: ByteArray) = native { native.tryAppend(data) }

    /**
     * Enqueue, suspending while the buffer limit is reached (back-pressure). The
     * message's place is fixed by the call: cancelling the wait does not withdraw it.
     */
    suspend fun send(data: ByteArray) = native { native.append(data) }

    /**
     * Enqueue now and get the message's acknowledgement as a [Deferred]. Cancelling the
     * Deferred stops waiting for it, not the message.
     */
    fun appendAsync(data: ByteArray): Deferred<Acked> {
        val handle = native { native.appendWithAck(data) }
        return acks.async(start = CoroutineStart.UNDISPATCHED) { handle.use { native { it.wait() } } }
    }

    /**
     * Wait until everything enqueued so far is stored; throws if any of it was lost.
     * Cancelling the wait leaves the batches going out.
     */
    suspend fun flush() = native { native.flush() }

    /** Flush, then close the stream (appending [data] as its final message). */
    suspend fun closeStream(data: ByteArray? = null): CloseResult = native { native.closeStream(data) }

    /** Flush, then stop without closing the stream. */
    suspend fun detach() = native { native.detach() }

    val epoch: Long get() = native.epoch().toLong()
    val nextSeq: Long get() = native.nextSeq().toLong()
    val counters: ProducerCounters get() = native.counters()

    /** Flush and detach, blocking the calling thread (at most [closeTimeoutMs]). */
    override fun close() {
        try {
            native { native.detachBlocking(closeTimeoutMs.toULong()) }
        } catch (e: ClosedException) {
            // Already closed or detached: nothing left to flush.
        }
        // Pending acknowledgements stay awaitable: the detach above settled every one.
    }

    var closeTimeoutMs: Long = 30_000
}
