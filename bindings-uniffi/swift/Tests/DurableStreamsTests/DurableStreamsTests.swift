// The Kotlin JUnit suite's behaviours, in XCTest. Needs a reference server:
//   DS_URL=http://127.0.0.1:PORT swift test      (see ../README.md)
// Not compiled on the Linux CI machine (no Swift toolchain); parsed by check_swift.py.
import DurableStreams
import DurableStreamsFFI
import Foundation
import XCTest

final class DurableStreamsTests: XCTestCase {
    var client: DurableStreamsClient!

    override func setUpWithError() throws {
        let url = try XCTUnwrap(ProcessInfo.processInfo.environment["DS_URL"], "set DS_URL to a reference server")
        client = try DurableStreamsClient(baseUrl: url)
    }

    func fresh(_ name: String, contentType: String = "text/plain") async throws -> DurableStream {
        let s = try client.stream("/swift-\(name)-\(UUID().uuidString)", contentType: contentType)
        try await s.create(contentType: contentType)
        return s
    }

    func testCreateAppendHeadReadDelete() async throws {
        let s = try await fresh("basic")
        try await s.appendText("hello ")
        try await s.append(Data("world".utf8))
        let meta = try await s.head()
        XCTAssertEqual(meta.contentType, "text/plain")
        var text = ""
        for try await chunk in s.read() { text += String(decoding: chunk.data, as: UTF8.self) }
        XCTAssertEqual(text, "hello world")
        try await s.delete()
        do {
            _ = try await s.head()
            XCTFail("head of a deleted stream succeeded")
        } catch DurableStreamError.streamNotFound(let d) {
            XCTAssertEqual(d.status, 404)
        }
    }

    func testLiveReadsInEveryMode() async throws {
        for mode in [LiveMode.longPoll, .sse, .auto] {
            let s = try await fresh("live-\(mode.rawValue)", contentType: "application/json")
            try await s.appendJson(#"{"n":0}"#)
            let reader = Task { () -> [String] in
                var items: [String] = []
                for try await item in s.readJson(live: mode) { items.append(item) }
                return items
            }
            try await Task.sleep(nanoseconds: 300_000_000)
            try await s.appendJson(#"{"n":1}"#)
            try await s.close()
            let items = try await reader.value
            XCTAssertEqual(items, [#"{"n":0}"#, #"{"n":1}"#])
        }
    }

    func testCancellingTheTaskCancelsTheRead() async throws {
        let s = try await fresh("cancel")
        let reader = Task { () -> Int in
            var n = 0
            for try await _ in s.read(live: .longPoll) { n += 1 }
            return n
        }
        try await Task.sleep(nanoseconds: 500_000_000)
        reader.cancel()
        _ = try? await reader.value
        XCTAssertTrue(reader.isCancelled)
    }

    func testErrorsCarryCodeStatusAndDetails() async throws {
        let s = try await fresh("closed")
        let final = try await s.close().finalOffset
        do {
            try await s.appendText("late")
            XCTFail("append to a closed stream succeeded")
        } catch let e as DurableStreamError {
            XCTAssertEqual(e.code, "STREAM_CLOSED")
            XCTAssertEqual(e.status, 409)
            XCTAssertEqual(e.nextOffset, final)
        }
    }

    func testProducerExactlyOnceAndAcks() async throws {
        let s = try await fresh("producer", contentType: "application/json")
        let p = try s.producer("swift-p")
        for i in 0..<99 { try await p.append(Data(#"{"i":\#(i)}"#.utf8)) }
        let ack = try p.appendWithAck(Data(#"{"i":99}"#.utf8))
        try await p.flush()
        let acked = try await ack.value
        XCTAssertFalse(acked.duplicate)
        try await p.detach()
        var items: [String] = []
        for try await item in s.readJson() { items.append(item) }
        XCTAssertEqual(items, (0..<100).map { #"{"i":\#($0)}"# })
    }

    func testClosingTheClientClosesWhatItMade() async throws {
        let c = try DurableStreamsClient(baseUrl: try XCTUnwrap(ProcessInfo.processInfo.environment["DS_URL"]))
        let path = "/swift-client-close-\(UUID().uuidString)"
        let s = try c.stream(path, contentType: "application/json")
        try await s.create(contentType: "application/json")
        try await s.appendJson(#"{"n":0}"#)
        let reader = Task { () -> [String] in
            var items: [String] = []
            for try await item in s.readJson(live: .longPoll) { items.append(item) }
            return items
        }
        let p = try s.producer("swift-closer")
        for i in 1...50 { try await p.append(Data(#"{"n":\#(i)}"#.utf8)) }
        try await Task.sleep(nanoseconds: 300_000_000)
        XCTAssertFalse(c.isClosed)
        try await c.close()
        XCTAssertTrue(c.isClosed)
        _ = try await reader.value // the live read ends with the client
        do {
            _ = try c.stream("/after-close")
            XCTFail("stream() on a closed client succeeded")
        } catch DurableStreamError.closed(let d) {
            XCTAssertEqual(d.code, "CLOSED")
        }
        do {
            try await s.appendText("late")
            XCTFail("append through a closed client succeeded")
        } catch DurableStreamError.closed {}
        try await c.close() // closing again waits for the same flush, already done
        var stored: [String] = []
        for try await item in try client.stream(path).readJson() { stored.append(item) }
        XCTAssertEqual(stored, (0...50).map { #"{"n":\#($0)}"# })
    }

    func testErrorEnumMatchesTheTable() throws {
        let rows = try JSONSerialization.jsonObject(with: Data(errorTableJson().utf8)) as! [[String: Any]]
        for row in rows {
            let code = row["code"] as! String
            if code.isEmpty { continue }
            let d = ErrorDetails(code: code, className: "", conformanceCode: "", message: "m", status: nil,
                                 transient: false, nextOffset: nil, earliestOffset: nil, currentEpoch: nil,
                                 expectedSeq: nil, receivedSeq: nil, retryAfterMs: nil, field: nil,
                                 serverMessage: nil, cause: nil)
            let name = row["name"] as! String
            let caseName = name.prefix(1).lowercased() + name.dropFirst()
            XCTAssertTrue(String(describing: DurableStreamError(d)).isEmpty == false)
            XCTAssertEqual(String(String(reflecting: DurableStreamError(d)).split(separator: "(")[0])
                .split(separator: ".").last.map(String.init), caseName, "case for \(code)")
        }
    }
}
