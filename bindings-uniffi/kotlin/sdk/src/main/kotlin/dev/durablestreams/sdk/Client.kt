package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.ClientOptions
import dev.durablestreams.sdk.ffi.ValueSource
import dev.durablestreams.sdk.ffi.Client as NativeClient

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
    internal val native: NativeClient = native {
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

    val baseUrl: String get() = native.baseUrl()

    /** A handle on the stream at [path]; [contentType] saves a HEAD before appends. */
    fun stream(path: String, contentType: String? = null): Stream = Stream(native { native.stream(path, contentType) })

    override fun close() = native.close()
}

private fun source(f: suspend () -> String): ValueSource = object : ValueSource {
    override suspend fun value(): String = f()
}
