// The hand-written Swift layer: async/await over the generated bindings, reads as
// AsyncThrowingStream, Task cancellation wired to the session's cancel().
import DurableStreamsFFI
import Foundation

public typealias Chunk = DurableStreamsFFI.Chunk
public typealias Acked = DurableStreamsFFI.Acked

public enum LiveMode: String {
    case off = "off", longPoll = "long-poll", sse = "sse", auto = "auto"
}

private final class Source: ValueSource {
    let f: @Sendable () async throws -> String
    init(_ f: @escaping @Sendable () async throws -> String) { self.f = f }
    func value() async throws -> String { try await f() }
}

public final class DurableStreamsClient {
    let native: DurableStreamsFFI.Client

    /// `dynamicHeaders` are evaluated on every request (refreshed tokens, ids).
    public init(baseUrl: String, headers: [String: String] = [:],
                dynamicHeaders: [String: @Sendable () async throws -> String] = [:]) throws {
        let options = ClientOptions(
            headers: headers, dynamicHeaders: dynamicHeaders.mapValues { Source($0) }, dynamicParams: [:],
            maxRetries: nil, initialDelayMs: nil, maxDelayMs: nil, multiplier: nil, appendRetry: nil,
            connectTimeoutMs: nil, requestTimeoutMs: nil, liveIdleTimeoutMs: nil)
        native = try DurableStreams.native { try DurableStreamsFFI.Client(baseUrl: baseUrl, options: options) }
    }

    public func stream(_ path: String, contentType: String? = nil) throws -> DurableStream {
        DurableStream(try DurableStreams.native { try native.stream(path: path, contentType: contentType) })
    }

    /// Close the client, for everything made from it: from this call on, calls on the
    /// client and its streams throw `DurableStreamError.closed`, live reads end, pushed
    /// consumers stop, producers flush and detach; returns when they have. Cancelling
    /// the Task stops the wait, not the flush. Closing again waits for the same flush.
    public func close() async throws {
        let flushing = native.shutdown()
        try await DurableStreams.native { try await flushing.wait() }
    }

    /// Whether `close()` was called.
    public var isClosed: Bool { native.isClosed() }
}

public final class DurableStream {
    let native: DurableStreamsFFI.Stream
    init(_ native: DurableStreamsFFI.Stream) { self.native = native }

    @discardableResult
    public func create(contentType: String? = nil, closed: Bool = false) async throws -> CreateResult {
        try await DurableStreams.native {
            try await native.create(options: CreateOptions(contentType: contentType, ttlSeconds: nil, expiresAt: nil,
                                                           closed: closed, body: nil, headers: [:]))
        }
    }

    @discardableResult
    public func append(_ data: Data) async throws -> AppendResult {
        try await DurableStreams.native { try await native.append(data: data, options: Self.noAppendOptions) }
    }

    @discardableResult
    public func appendText(_ text: String) async throws -> AppendResult {
        try await DurableStreams.native { try await native.appendText(text: text, options: Self.noAppendOptions) }
    }

    @discardableResult
    public func appendJson(_ json: String) async throws -> AppendResult {
        try await DurableStreams.native { try await native.appendJson(json: json, options: Self.noAppendOptions) }
    }

    @discardableResult
    public func close() async throws -> CloseResult {
        try await DurableStreams.native {
            try await native.close(options: CloseOptions(data: nil, contentType: nil, headers: [:]))
        }
    }

    public func delete() async throws { try await DurableStreams.native { try await native.delete(headers: [:]) } }

    public func head() async throws -> StreamMetadata {
        try await DurableStreams.native { try await native.head(headers: [:]) }
    }

    /// The stream's chunks; cancelling the consuming Task cancels the read in Rust.
    public func read(offset: String = "-1", live: LiveMode = .off) -> AsyncThrowingStream<Chunk, Error> {
        AsyncThrowingStream { continuation in
            let session: ReadSession
            do {
                session = try DurableStreams.native {
                    try native.read(options: ReadOptions(offset: offset, live: live.rawValue, cursor: nil,
                                                         headers: [:], maxChunkBytes: nil))
                }
            } catch {
                continuation.finish(throwing: error)
                return
            }
            let task = Task {
                do {
                    while let chunk = try await DurableStreams.native({ try await session.next() }) {
                        continuation.yield(chunk)
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in
                session.cancel()
                task.cancel()
            }
        }
    }

    /// The messages of a JSON stream, each the text of one JSON value.
    public func readJson(offset: String = "-1", live: LiveMode = .off) -> AsyncThrowingStream<String, Error> {
        let chunks = read(offset: offset, live: live)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    for try await chunk in chunks {
                        for item in chunk.items ?? [] { continuation.yield(item) }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    public func producer(_ producerId: String, epoch: Int64 = 0, autoClaim: Bool = false) throws -> DurableProducer {
        let options = ProducerOptions(producerId: producerId, epoch: epoch, autoClaim: autoClaim, maxBatchItems: nil,
                                      maxBatchBytes: nil, lingerMs: nil, maxInFlight: nil, bufferLimitBytes: nil,
                                      contentType: nil, headers: [:])
        return DurableProducer(try DurableStreams.native { try native.producer(options: options) })
    }

    private static let noAppendOptions = AppendOptions(contentType: nil, seq: nil, producerId: nil, producerEpoch: nil,
                                                       producerSeq: nil, headers: [:])
}

/// The exactly-once producer: `append` enqueues in call order (suspending under
/// back-pressure); `flush`, `closeStream` and `detach` are async.
public final class DurableProducer {
    let native: DurableStreamsFFI.Producer
    init(_ native: DurableStreamsFFI.Producer) { self.native = native }

    public func append(_ data: Data) async throws {
        try await DurableStreams.native { try await native.append(data: data) }
    }

    /// Enqueue now; the returned Task resolves with the message's acknowledgement.
    public func appendWithAck(_ data: Data) throws -> Task<Acked, Error> {
        let handle = try DurableStreams.native { try native.appendWithAck(data: data) }
        return Task { try await DurableStreams.native { try await handle.wait() } }
    }

    public func flush() async throws { try await DurableStreams.native { try await native.flush() } }

    @discardableResult
    public func closeStream(_ data: Data? = nil) async throws -> CloseResult {
        try await DurableStreams.native { try await native.closeStream(data: data) }
    }

    public func detach() async throws { try await DurableStreams.native { try await native.detach() } }
}
