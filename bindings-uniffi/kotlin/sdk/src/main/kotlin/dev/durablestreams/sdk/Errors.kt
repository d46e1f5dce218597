// The exception hierarchy of the core's error table (durable_streams_sdk::ffi::ERROR_TABLE):
// one class per row, named <name>Exception, with the row's parent as superclass and its
// details as typed properties (milliseconds everywhere). ErrorTableTest fails when this
// file and the table disagree. The table's detail `cause` is `networkCause` here
// (Throwable.cause is taken).
package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.ErrorDetails

/** Any failure reported by the SDK. [code] is stable across every binding. */
sealed class DurableStreamException(val details: ErrorDetails) : Exception(details.message) {
    /** Stable code from the error table, e.g. `STREAM_CLOSED`. */
    val code: String get() = details.code
    /** HTTP status when the server answered. */
    val status: Int? get() = details.status?.toInt()
    /** Repeating the operation later may succeed. */
    val transient: Boolean get() = details.transient
    /** The code in the conformance adapter protocol's vocabulary. */
    val conformanceCode: String get() = details.conformanceCode

    companion object {
        /** The exception of the table class that [details] names. */
        fun from(details: ErrorDetails): DurableStreamException = when (details.code) {
            "NOT_FOUND" -> StreamNotFoundException(details)
            "STREAM_CLOSED" -> StreamClosedException(details)
            "GONE" -> StreamGoneException(details)
            "STALE_EPOCH" -> StaleEpochException(details)
            "CONFLICT" -> ConflictException(details)
            "SEQUENCE_GAP" -> SequenceGapException(details)
            "SEQUENCE_CONFLICT" -> SequenceConflictException(details)
            "CONTENT_TYPE_MISMATCH" -> ContentTypeMismatchException(details)
            "BAD_REQUEST" -> BadRequestException(details)
            "INVALID_OFFSET" -> InvalidOffsetException(details)
            "PAYLOAD_TOO_LARGE" -> PayloadTooLargeException(details)
            "RATE_LIMITED" -> RateLimitedException(details)
            "UNAUTHORIZED" -> UnauthorizedException(details)
            "FORBIDDEN" -> ForbiddenException(details)
            "NOT_SUPPORTED" -> NotSupportedException(details)
            "UNEXPECTED_STATUS" -> UnexpectedStatusException(details)
            "NETWORK_ERROR" -> NetworkException(details)
            "TIMEOUT" -> TimeoutException(details)
            "PARSE_ERROR" -> MalformedResponseException(details)
            "INVALID_ARGUMENT" -> InvalidArgumentException(details)
            "CANCELLED" -> CancelledException(details)
            "ABORTED" -> AbortedException(details)
            "CLOSED" -> ClosedException(details)
            "BUFFER_FULL" -> BufferFullException(details)
            "CALLBACK_FAILED" -> CallbackFailedException(details)
            "INTERNAL" -> InternalException(details)
            else -> UnexpectedStatusException(details)
        }
    }
}

/** The stream (or a fork source) does not exist (404). */
class StreamNotFoundException(details: ErrorDetails) : DurableStreamException(details)

/** The stream is closed; next_offset is its final offset. */
class StreamClosedException(details: ErrorDetails) : DurableStreamException(details) {
    val nextOffset: String? get() = details.nextOffset
}

/** The stream was deleted, or the offset is older than retained data (410). */
class StreamGoneException(details: ErrorDetails) : DurableStreamException(details) {
    val earliestOffset: String? get() = details.earliestOffset
}

/** Another producer holds a newer epoch (403); current_epoch is the server's. */
class StaleEpochException(details: ErrorDetails) : DurableStreamException(details) {
    val currentEpoch: Long? get() = details.currentEpoch?.toLong()
}

/** The request conflicts with the stream's state (409). */
open class ConflictException(details: ErrorDetails) : DurableStreamException(details)

/** A producer request arrived ahead of its predecessors. */
class SequenceGapException(details: ErrorDetails) : ConflictException(details) {
    val expectedSeq: Long? get() = details.expectedSeq?.toLong()
    val receivedSeq: Long? get() = details.receivedSeq?.toLong()
}

/** A Stream-Seq not greater than the last accepted one. */
class SequenceConflictException(details: ErrorDetails) : ConflictException(details)

/** The body's content type differs from the stream's. */
class ContentTypeMismatchException(details: ErrorDetails) : ConflictException(details)

/** The server rejected the request (400). */
open class BadRequestException(details: ErrorDetails) : DurableStreamException(details) {
    val serverMessage: String? get() = details.serverMessage
}

/** The server rejected the read offset. */
class InvalidOffsetException(details: ErrorDetails) : BadRequestException(details)

/** The body is larger than the server accepts (413). */
class PayloadTooLargeException(details: ErrorDetails) : DurableStreamException(details)

/** Still rate limited (429) after retries. */
class RateLimitedException(details: ErrorDetails) : DurableStreamException(details) {
    val retryAfterMs: Long? get() = details.retryAfterMs?.toLong()
}

/** Authentication is missing or wrong (401). */
class UnauthorizedException(details: ErrorDetails) : DurableStreamException(details)

/** Not allowed (403). */
class ForbiddenException(details: ErrorDetails) : DurableStreamException(details)

/** The server does not support this operation (405/501). */
class NotSupportedException(details: ErrorDetails) : DurableStreamException(details)

/** Any other failure status, e.g. 5xx after retries. */
class UnexpectedStatusException(details: ErrorDetails) : DurableStreamException(details)

/** The connection failed, was reset, or the body was cut off. */
class NetworkException(details: ErrorDetails) : DurableStreamException(details) {
    val networkCause: String? get() = details.cause
}

/** A deadline passed. */
class TimeoutException(details: ErrorDetails) : DurableStreamException(details) {
    val networkCause: String? get() = details.cause
}

/** The server's answer does not follow the protocol. */
class MalformedResponseException(details: ErrorDetails) : DurableStreamException(details)

/** A value given by the caller was rejected before any I/O. */
class InvalidArgumentException(details: ErrorDetails) : DurableStreamException(details) {
    val field: String? get() = details.field
}

/** The operation was cancelled (session dropped, producer closed, ...). */
open class CancelledException(details: ErrorDetails) : DurableStreamException(details)

/** The caller aborted the operation. */
class AbortedException(details: ErrorDetails) : CancelledException(details)

/** The producer or consumer has already failed or been closed. */
class ClosedException(details: ErrorDetails) : DurableStreamException(details)

/** The producer's buffer limit is reached (non-waiting append). */
class BufferFullException(details: ErrorDetails) : DurableStreamException(details)

/** Application code called by the SDK failed. */
class CallbackFailedException(details: ErrorDetails) : DurableStreamException(details)

/** A bug in the SDK (a panic caught at the language boundary). */
class InternalException(details: ErrorDetails) : DurableStreamException(details)
