package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.AppendOptions
import dev.durablestreams.sdk.ffi.CloseOptions
import dev.durablestreams.sdk.ffi.CreateOptions
import dev.durablestreams.sdk.ffi.ReadOptions
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import dev.durablestreams.sdk.ffi.Stream as NativeStream

typealias Chunk = dev.durablestreams.sdk.ffi.Chunk
typealias CreateResult = dev.durablestreams.sdk.ffi.CreateResult
typealias AppendResult = dev.durablestreams.sdk.ffi.AppendResult
typealias CloseResult = dev.durablestreams.sdk.ffi.CloseResult
typealias StreamMetadata = dev.durablestreams.sdk.ffi.StreamMetadata
typealias Position = dev.durablestreams.sdk.ffi.Position

const val JSON = "application/json"

/** One stream: create, append, close, delete, head, read. Every call suspends. */
class Stream internal constructor(internal val native: NativeStream) {
    val url: String get() = native.url()

    suspend fun create(
        contentType: String? = null,
        ttlSeconds: Long? = null,
        expiresAt: String? = null,
        closed: Boolean = false,
        body: ByteArray? = null,
        headers: Map<String, String> = emptyMap(),
    ): CreateResult = native {
        native.create(CreateOptions(contentType, ttlSeconds?.toULong(), expiresAt, closed, body, headers))
    }

    /** Append one message (on a JSON stream: the text of one JSON value). */
    suspend fun append(
        data: ByteArray,
        contentType: String? = null,
        seq: String? = null,
        headers: Map<String, String> = emptyMap(),
    ): AppendResult = native { native.append(data, appendOptions(contentType, seq, headers)) }

    suspend fun appendText(text: String, contentType: String? = null, headers: Map<String, String> = emptyMap()): AppendResult =
        native { native.appendText(text, appendOptions(contentType, null, headers)) }

    /** Append the text of one JSON value as one message of a JSON stream. */
    suspend fun appendJson(json: String, headers: Map<String, String> = emptyMap()): AppendResult =
        native { native.appendJson(json, appendOptions(null, null, headers)) }

    /** Close the stream, optionally appending [data] as its final message. */
    suspend fun close(data: ByteArray? = null, contentType: String? = null): CloseResult =
        native { native.close(CloseOptions(data, contentType, emptyMap())) }

    suspend fun delete(headers: Map<String, String> = emptyMap()) = native { native.delete(headers) }

    suspend fun head(headers: Map<String, String> = emptyMap()): StreamMetadata = native { native.head(headers) }

    /** Everything from [offset] to the current tail. */
    suspend fun readAll(offset: String = "-1"): ByteArray = native { native.readAll(offset) }

    /**
     * A pull-style read session ([ReadSession.next] / [ReadSession.cancel]); most
     * callers want [read].
     */
    fun session(
        offset: String = "-1",
        live: LiveMode = LiveMode.OFF,
        headers: Map<String, String> = emptyMap(),
        cursor: String? = null,
        maxChunkBytes: Long? = null,
    ): ReadSession = ReadSession(native { native.read(ReadOptions(offset, live.wire, cursor, headers, maxChunkBytes?.toULong())) })

    /**
     * The stream's chunks from [offset]; with a [live] mode the flow follows the stream
     * until it is closed or the collector is cancelled (which cancels the request in
     * flight).
     */
    fun read(offset: String = "-1", live: LiveMode = LiveMode.OFF, headers: Map<String, String> = emptyMap()): Flow<Chunk> =
        flow {
            session(offset, live, headers).use { s ->
                while (true) emit(s.next() ?: break)
            }
        }

    /**
     * The messages of a JSON stream, each decoded by [decoder] from the text of one JSON
     * value (plug in kotlinx-serialization, Moshi, org.json...).
     */
    fun <T> readJson(
        offset: String = "-1",
        live: LiveMode = LiveMode.OFF,
        headers: Map<String, String> = emptyMap(),
        decoder: (String) -> T,
    ): Flow<T> = flow {
        read(offset, live, headers).collect { chunk -> chunk.items?.forEach { emit(decoder(it)) } }
    }

    /** The messages of a JSON stream as JSON text. */
    fun readJson(offset: String = "-1", live: LiveMode = LiveMode.OFF): Flow<String> = readJson(offset, live) { it }

    /** An exactly-once producer on this stream (see [Producer]). */
    fun producer(
        producerId: String,
        epoch: Long = 0,
        autoClaim: Boolean = false,
        maxBatchItems: Long? = null,
        maxBatchBytes: Long? = null,
        lingerMs: Double? = null,
        maxInFlight: Long? = null,
        bufferLimitBytes: Long? = null,
        contentType: String? = null,
        headers: Map<String, String> = emptyMap(),
        deliveryTimeoutMs: Double? = null,
    ): Producer = Producer(
        native {
            native.producer(
                dev.durablestreams.sdk.ffi.ProducerOptions(
                    producerId, epoch, autoClaim, maxBatchItems, maxBatchBytes, lingerMs, maxInFlight,
                    bufferLimitBytes, contentType, headers, deliveryTimeoutMs,
                ),
            )
        },
    )

}

private fun appendOptions(contentType: String?, seq: String?, headers: Map<String, String>) =
    AppendOptions(contentType, seq, null, null, null, headers)

/** A read session as a pull handle. Closing it cancels the reading. */
class ReadSession internal constructor(private val native: dev.durablestreams.sdk.ffi.ReadSession) : AutoCloseable {
    /** The next chunk, or `null` at the end (caught up with [LiveMode.OFF], stream closed, cancelled). */
    suspend fun next(): Chunk? = native { native.next() }

    /** Where the session stands after the chunks taken so far. */
    val position: Position get() = native.position()

    /** Dynamic header and query-parameter values sent with the request behind the last chunk taken. */
    val sentHeaders: Map<String, String> get() = native.sentHeaders()
    val sentParams: Map<String, String> get() = native.sentParams()

    /** Stop now: a pending [next] and all later ones return `null`. */
    fun cancel() = native.cancel()

    override fun close() {
        native.cancel()
        native.close()
    }
}
