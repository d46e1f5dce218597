package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.ClientOptions
import dev.durablestreams.sdk.ffi.ErrorDetails
import dev.durablestreams.sdk.ffi.FfiException
import dev.durablestreams.sdk.ffi.ValueSource
import dev.durablestreams.sdk.ffi.Client as NativeClient
import dev.durablestreams.sdk.ffi.Shutdown as NativeShutdown

/** How reads follow a stream once they have caught up. */
enum class LiveMode(internal val wire: String) {
    /** Catch up to the current tail, then end. */
    OFF("off"),
    LONG_POLL("long-poll"),
    SSE("sse"),
    /** Catch up, then SSE for text/JSON streams or long-poll for binary ones. */
    AUTO("auto"),
}

/** Retry settings of every request; `null` keeps the core's default. */
data class RetryOptions(
    val maxRetries: Long? = null,
    val initialDelayMs: Double? = null,
    val maxDelayMs: Double? = null,
    val multiplier: Double? = null,
    /** `when-unprocessed` (never duplicates, default) or `at-least-once`. */
    val appendRetry: String? = null,
)

/**
 * A Durable Streams client: base URL, headers, and headers / query parameters
 * computed per request by suspend lambdas ([dynamicHeaders], [dynamicParams]) —
 * evaluated afresh for every request, retries and reconnects included.
 *
 * Closing it ([shutdown] from a coroutine, [close] or `use {}` otherwise) closes
 * everything made from it: later calls on the client and on its streams throw
 * [ClosedException], live reads in progress end, pushed consumers stop, and its
 * producers flush and detach.
 */
class Client(
    baseUrl: String,
    headers: Map<String, String> = emptyMap(),
    dynamicHeaders: Map<String, suspend () -> String> = emptyMap(),
    dynamicParams: Map<String, suspend () -> String> = emptyMap(),
    retry: RetryOptions = RetryOptions(),
    connectTimeoutMs: Long? = null,
    requestTimeoutMs: Long? = null,
    liveIdleTimeoutMs: Long? = null,
    /** Ask for gzip/deflate-compressed read responses (worth it off loopback). */
    compression: Boolean = true,
) : AutoCloseable {
    private val native: NativeClient = native {
        NativeClient(
            baseUrl,
            ClientOptions(
                headers = headers,
                dynamicHeaders = dynamicHeaders.mapValues { source(it.value) },
                dynamicParams = dynamicParams.mapValues { source(it.value) },
                maxRetries = retry.maxRetries,
                initialDelayMs = retry.initialDelayMs,
                maxDelayMs = retry.maxDelayMs,
                multiplier = retry.multiplier,
                appendRetry = retry.appendRetry,
                connectTimeoutMs = connectTimeoutMs?.toULong(),
                requestTimeoutMs = requestTimeoutMs?.toULong(),
                liveIdleTimeoutMs = liveIdleTimeoutMs?.toULong(),
                compression = compression,
            ),
        )
    }

    val baseUrl: String = native.baseUrl()

    /** The first close's flush, which every later close waits for too. */
    private var flushing: NativeShutdown? = null // only touched in begin(), under its lock

    /** The core's answer to a call on the closed client, kept to answer calls once [native] is released. */
    @Volatile private var refusal: ErrorDetails? = null

    /** A handle on the stream at [path]; [contentType] saves a HEAD before appends. */
    fun stream(path: String, contentType: String? = null): Stream = Stream(call { it.stream(path, contentType) })

    /** Whether [close] or [shutdown] was called. */
    val isClosed: Boolean get() = refusal != null || runCatching { native.isClosed() }.getOrDefault(true)

    /**
     * Close the client (see [Client]) at once and suspend until its producers have
     * flushed and detached. Cancelling the wait leaves them flushing. Closing again
     * waits for the same flush.
     */
    suspend fun shutdown() {
        val flushing = begin()
        native { flushing.wait() }
    }

    /**
     * Close the client (see [Client]) at once, release its native handle, then block
     * the calling thread until its producers have flushed and detached, at most
     * [closeTimeoutMs] (as [Producer.close]): [TimeoutException] if they are still
     * flushing then (they go on). Without producers it does not wait for any I/O; with
     * some, prefer [shutdown] on a thread that must not block (Android's main thread).
     * Closing again waits for the same flush.
     */
    override fun close() {
        val flushing = begin()
        native { flushing.waitBlocking(closeTimeoutMs.toULong()) }
    }

    /** How long [close] blocks for the producers' flush. */
    var closeTimeoutMs: Long = 30_000

    /** Close on the core and release the native handle, the first time; the flush to wait for. */
    @Synchronized
    private fun begin(): NativeShutdown {
        flushing?.let { return it }
        val started = native.shutdown()
        refusal = try {
            native.stream("/", null).destroy() // never: the core refuses from shutdown() on
            null
        } catch (e: FfiException.Failure) {
            e.details
        }
        native.destroy()
        flushing = started
        return started
    }

    /** A call on the native client, or the core's refusal once it is released. */
    private inline fun <T> call(block: (NativeClient) -> T): T {
        refusal?.let { throw DurableStreamException.from(it) }
        return try {
            native { block(native) }
        } catch (e: IllegalStateException) {
            // Released by a concurrent close between the check above and the call.
            throw DurableStreamException.from(refusal ?: throw e)
        }
    }
}

private fun source(f: suspend () -> String): ValueSource = object : ValueSource {
    override suspend fun value(): String = f()
}
