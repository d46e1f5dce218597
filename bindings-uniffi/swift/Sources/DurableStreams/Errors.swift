// DurableStreamError: one case per row of the core's error table
// (durable_streams_sdk::ffi::ERROR_TABLE), each carrying the flat ErrorDetails
// (code, status, typed details in milliseconds). ErrorTableTests checks the cases
// against errorTableJson().
import DurableStreamsFFI

public enum DurableStreamError: Error, CustomStringConvertible {
    /// The stream (or a fork source) does not exist (404).
    case streamNotFound(ErrorDetails)
    /// The stream is closed; next_offset is its final offset.
    case streamClosed(ErrorDetails)
    /// The stream was deleted, or the offset is older than retained data (410).
    case streamGone(ErrorDetails)
    /// Another producer holds a newer epoch (403); current_epoch is the server's.
    case staleEpoch(ErrorDetails)
    /// The request conflicts with the stream's state (409).
    case conflict(ErrorDetails)
    /// A producer request arrived ahead of its predecessors.
    case sequenceGap(ErrorDetails)
    /// A Stream-Seq not greater than the last accepted one.
    case sequenceConflict(ErrorDetails)
    /// The body's content type differs from the stream's.
    case contentTypeMismatch(ErrorDetails)
    /// The server rejected the request (400).
    case badRequest(ErrorDetails)
    /// The server rejected the read offset.
    case invalidOffset(ErrorDetails)
    /// The body is larger than the server accepts (413).
    case payloadTooLarge(ErrorDetails)
    /// Still rate limited (429) after retries.
    case rateLimited(ErrorDetails)
    /// Authentication is missing or wrong (401).
    case unauthorized(ErrorDetails)
    /// Not allowed (403).
    case forbidden(ErrorDetails)
    /// The server does not support this operation (405/501).
    case notSupported(ErrorDetails)
    /// Any other failure status, e.g. 5xx after retries.
    case unexpectedStatus(ErrorDetails)
    /// The connection failed, was reset, or the body was cut off.
    case network(ErrorDetails)
    /// A deadline passed.
    case timeout(ErrorDetails)
    /// The server's answer does not follow the protocol.
    case malformedResponse(ErrorDetails)
    /// A value given by the caller was rejected before any I/O.
    case invalidArgument(ErrorDetails)
    /// The operation was cancelled (session dropped, producer closed, ...).
    case cancelled(ErrorDetails)
    /// The caller aborted the operation.
    case aborted(ErrorDetails)
    /// The producer or consumer has already failed or been closed.
    case closed(ErrorDetails)
    /// The producer's buffer limit is reached (non-waiting append).
    case bufferFull(ErrorDetails)
    /// Application code called by the SDK failed.
    case callbackFailed(ErrorDetails)
    /// A bug in the SDK (a panic caught at the language boundary).
    case internal(ErrorDetails)

    /// The error of the table class that `details` names.
    public init(_ details: ErrorDetails) {
        switch details.code {
        case "NOT_FOUND": self = .streamNotFound(details)
        case "STREAM_CLOSED": self = .streamClosed(details)
        case "GONE": self = .streamGone(details)
        case "STALE_EPOCH": self = .staleEpoch(details)
        case "CONFLICT": self = .conflict(details)
        case "SEQUENCE_GAP": self = .sequenceGap(details)
        case "SEQUENCE_CONFLICT": self = .sequenceConflict(details)
        case "CONTENT_TYPE_MISMATCH": self = .contentTypeMismatch(details)
        case "BAD_REQUEST": self = .badRequest(details)
        case "INVALID_OFFSET": self = .invalidOffset(details)
        case "PAYLOAD_TOO_LARGE": self = .payloadTooLarge(details)
        case "RATE_LIMITED": self = .rateLimited(details)
        case "UNAUTHORIZED": self = .unauthorized(details)
        case "FORBIDDEN": self = .forbidden(details)
        case "NOT_SUPPORTED": self = .notSupported(details)
        case "UNEXPECTED_STATUS": self = .unexpectedStatus(details)
        case "NETWORK_ERROR": self = .network(details)
        case "TIMEOUT": self = .timeout(details)
        case "PARSE_ERROR": self = .malformedResponse(details)
        case "INVALID_ARGUMENT": self = .invalidArgument(details)
        case "CANCELLED": self = .cancelled(details)
        case "ABORTED": self = .aborted(details)
        case "CLOSED": self = .closed(details)
        case "BUFFER_FULL": self = .bufferFull(details)
        case "CALLBACK_FAILED": self = .callbackFailed(details)
        case "INTERNAL": self = .internal(details)
        default: self = .unexpectedStatus(details)
        }
    }

    public var details: ErrorDetails {
        switch self {
        case .streamNotFound(let d),
             .streamClosed(let d),
             .streamGone(let d),
             .staleEpoch(let d),
             .conflict(let d),
             .sequenceGap(let d),
             .sequenceConflict(let d),
             .contentTypeMismatch(let d),
             .badRequest(let d),
             .invalidOffset(let d),
             .payloadTooLarge(let d),
             .rateLimited(let d),
             .unauthorized(let d),
             .forbidden(let d),
             .notSupported(let d),
             .unexpectedStatus(let d),
             .network(let d),
             .timeout(let d),
             .malformedResponse(let d),
             .invalidArgument(let d),
             .cancelled(let d),
             .aborted(let d),
             .closed(let d),
             .bufferFull(let d),
             .callbackFailed(let d),
             .internal(let d):
            return d
        }
    }

    /// Stable code from the error table, e.g. `STREAM_CLOSED`.
    public var code: String { details.code }
    /// HTTP status when the server answered.
    public var status: UInt16? { details.status }
    public var description: String { details.message }
    /// `STREAM_CLOSED`: the final offset.
    public var nextOffset: String? { details.nextOffset }
    /// `GONE`: the earliest retained offset.
    public var earliestOffset: String? { details.earliestOffset }
    /// `STALE_EPOCH`: the server's epoch.
    public var currentEpoch: UInt64? { details.currentEpoch }
    /// `RATE_LIMITED`: the server's Retry-After in milliseconds.
    public var retryAfterMs: UInt64? { details.retryAfterMs }
}

/// Every call into the native layer: its error becomes a `DurableStreamError`.
@inline(__always)
func native<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let FfiError.Failure(details) { throw DurableStreamError(details) }
}

@inline(__always)
func native<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let FfiError.Failure(details) { throw DurableStreamError(details) }
}
