package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.ConsumerCallback
import dev.durablestreams.sdk.ffi.ConsumerOptions
import dev.durablestreams.sdk.ffi.ErrorDetails
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import dev.durablestreams.sdk.ffi.ConsumerEnd as NativeEnd
import dev.durablestreams.sdk.ffi.ConsumerEvent as NativeEvent

typealias Decision = dev.durablestreams.sdk.ffi.Decision

/** How a pushed consumer ended. */
sealed interface ConsumerEnd {
    /** The stream was closed; all of it was handled. */
    data class Closed(val finalOffset: String) : ConsumerEnd
    /** Stopped by the handler, by [ConsumerJob.stop], or by closing its [Client]. */
    data class Stopped(val checkpoint: String) : ConsumerEnd
    /** `LiveMode.OFF` and the tail was reached. */
    data class CaughtUp(val checkpoint: String) : ConsumerEnd
}

/** What a consumer observed. */
sealed interface ConsumerEvent {
    /** New data (never empty). */
    data class Batch(val chunk: Chunk) : ConsumerEvent
    /** Caught up with the tail (once per catch-up). */
    data class UpToDate(val offset: String) : ConsumerEvent
    /** The stream is closed; the flow ends after this. */
    data class Closed(val finalOffset: String) : ConsumerEvent
    /** A transient failure; the consumer reconnects after [retryInMs]. */
    data class Reconnecting(val error: DurableStreamException, val retryInMs: Long) : ConsumerEvent
}

/** A pushed consumer's handler. */
interface ConsumerHandler {
    /** New data; return [Decision.STOP] to stop. A throw goes to [handleError] and the batch is not accepted. */
    suspend fun handleBatch(chunk: Chunk): Decision

    /** A failure: [Decision.CONTINUE] reconnects from the checkpoint after backoff. */
    suspend fun handleError(error: DurableStreamException): Decision =
        if (error.transient) Decision.CONTINUE else Decision.STOP
}

/** Consumer settings; `null` keeps the core's default. */
data class ConsumerSettings(
    val offset: String = "-1",
    val live: LiveMode = LiveMode.AUTO,
    val backoffBaseMs: Long? = null,
    val backoffMaxMs: Long? = null,
    val headers: Map<String, String> = emptyMap(),
    val maxChunkBytes: Long? = null,
) {
    internal fun native() = ConsumerOptions(
        offset, live.wire, backoffBaseMs?.toULong(), backoffMaxMs?.toULong(), headers, maxChunkBytes?.toULong(),
    )
}

/** A running pushed consumer. Closing it cancels the consumer. */
class ConsumerJob internal constructor(private val native: dev.durablestreams.sdk.ffi.ConsumerRun) : AutoCloseable {
    /** Wait for the end; every waiter gets the same outcome. */
    suspend fun await(): ConsumerEnd = when (val e = native { native.wait() }) {
        is NativeEnd.Closed -> ConsumerEnd.Closed(e.finalOffset)
        is NativeEnd.Stopped -> ConsumerEnd.Stopped(e.checkpoint)
        is NativeEnd.CaughtUp -> ConsumerEnd.CaughtUp(e.checkpoint)
    }
    val checkpoint: String get() = native.checkpoint()
    fun pause() = native.pause()
    fun resume() = native.resume()
    /** Stop after the batch in hand; [await] then returns [ConsumerEnd.Stopped]. */
    fun stop() = native.stop()
    fun cancel() = native.cancel()
    override fun close() {
        native.cancel()
        native.close()
    }
}

/** Follow the stream as a flow of events; cancelling the collector stops the consumer. */
fun Stream.consumer(settings: ConsumerSettings = ConsumerSettings()): Flow<ConsumerEvent> = flow {
    val events = native { native.consumerEvents(settings.native()) }
    try {
        while (true) {
            val ev = native { events.next() } ?: break
            emit(
                when (ev) {
                    is NativeEvent.Batch -> ConsumerEvent.Batch(ev.chunk)
                    is NativeEvent.UpToDate -> ConsumerEvent.UpToDate(ev.offset)
                    is NativeEvent.Closed -> ConsumerEvent.Closed(ev.finalOffset)
                    is NativeEvent.Reconnecting ->
                        ConsumerEvent.Reconnecting(DurableStreamException.from(ev.error), ev.retryInMs.toLong())
                },
            )
        }
    } finally {
        events.cancel()
        events.close()
    }
}

/** Push the stream's batches to [handler] on the SDK's runtime. */
fun Stream.consume(settings: ConsumerSettings = ConsumerSettings(), handler: ConsumerHandler): ConsumerJob {
    val callback = object : ConsumerCallback {
        override suspend fun handleBatch(batch: Chunk): Decision = handler.handleBatch(batch)
        override suspend fun handleError(error: ErrorDetails): Decision =
            handler.handleError(DurableStreamException.from(error))
    }
    return ConsumerJob(native { native.consume(settings.native(), callback) })
}
