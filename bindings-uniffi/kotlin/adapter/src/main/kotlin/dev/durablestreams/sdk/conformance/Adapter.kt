// Conformance adapter for the Kotlin binding: one JSON command per stdin line, run
// through the binding's public API, one JSON result per stdout line. Mirrors
// tests/rust-adapter and tests/adapters/node command by command and holds no protocol
// logic. Contract: shared/protocol/ADAPTER-PROTOCOL.md. Run by tests/adapters/kotlin
// from the prebuilt jar (bindings-uniffi/ci.sh builds it).
package dev.durablestreams.sdk.conformance

import dev.durablestreams.sdk.Chunk
import dev.durablestreams.sdk.Client
import dev.durablestreams.sdk.DurableStreamException
import dev.durablestreams.sdk.LiveMode
import dev.durablestreams.sdk.Producer
import dev.durablestreams.sdk.RetryOptions
import dev.durablestreams.sdk.Stream
import dev.durablestreams.sdk.ffi.sdkVersion
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.json.JSONArray
import org.json.JSONObject
import java.util.Base64

private const val DEFAULT_CONTENT_TYPE = "application/octet-stream"

private class Failure(val code: String, message: String, val status: Int? = null) : Exception(message)

private fun JSONObject.str(k: String): String? = if (has(k) && !isNull(k)) get(k).toString() else null
private fun JSONObject.need(k: String): String = str(k) ?: throw Failure("PARSE_ERROR", "malformed ${optString("type")} command: missing $k")
private fun JSONObject.long(k: String): Long? = if (has(k) && !isNull(k)) getNumber(k).toLong() else null
private fun JSONObject.headers(): Map<String, String> =
    optJSONObject("headers")?.let { h -> h.keySet().associateWith { h.get(it).toString() } } ?: emptyMap()

/** A value computed per request: `counter` (1, 2, 3, …), `timestamp` (Unix ms) or `token`. */
private fun valueFunction(valueType: String, initial: String?): suspend () -> String = when (valueType) {
    "counter" -> { val n = java.util.concurrent.atomic.AtomicLong(); { n.incrementAndGet().toString() } }
    "timestamp" -> { { System.currentTimeMillis().toString() } }
    "token" -> { val t = initial ?: ""; { t } }
    else -> throw Failure("INVALID_ARGUMENT", "unknown valueType \"$valueType\"")
}

/** Collects the pieces of one response (`chunk.partial`) into one reported chunk. */
private class Pending {
    private val bytes = java.io.ByteArrayOutputStream()
    private var items: MutableList<String>? = null

    fun add(c: Chunk) {
        val its = c.items
        if (its != null) (items ?: mutableListOf<String>().also { items = it }).addAll(its) else bytes.write(c.data)
    }

    fun take(): String? {
        val its = items
        val out = if (its != null) (if (its.isEmpty()) null else its.joinToString(",", "[", "]"))
        else if (bytes.size() == 0) null else bytes.toByteArray().decodeToString()
        items = null
        bytes.reset()
        return out
    }
}

private class Adapter {
    var serverUrl = ""
    var client: Client? = null
    val dynamicHeaders = LinkedHashMap<String, suspend () -> String>()
    val dynamicParams = LinkedHashMap<String, suspend () -> String>()
    val contentTypes = HashMap<String, String>()
    val producers = HashMap<List<Any>, Producer>()

    suspend fun run(c: JSONObject): JSONObject = when (val t = c.optString("type")) {
        "init" -> init(c)
        "create" -> create(c)
        "connect" -> connect(c)
        "append" -> append(c)
        "read" -> read(c)
        "head" -> head(c)
        "delete" -> delete(c)
        "close" -> close(c)
        "set-dynamic-header" -> setDynamic(c, dynamicHeaders)
        "set-dynamic-param" -> setDynamic(c, dynamicParams)
        "clear-dynamic" -> { dynamicHeaders.clear(); dynamicParams.clear(); rebuild() }
        "idempotent-append" -> idempotentAppend(c)
        "idempotent-append-batch" -> idempotentAppendBatch(c)
        "idempotent-close" -> idempotentClose(c)
        "idempotent-detach" -> idempotentDetach(c)
        "validate" -> validate(c)
        "shutdown" -> JSONObject()
        else -> throw Failure("NOT_SUPPORTED", "command $t not supported by this adapter")
    }

    fun init(c: JSONObject): JSONObject {
        producers.clear(); contentTypes.clear(); dynamicHeaders.clear(); dynamicParams.clear()
        serverUrl = c.need("serverUrl")
        rebuild()
        val features = JSONObject()
        for (f in listOf("sse", "longPoll", "auto", "streaming", "dynamicHeaders", "retryOptions", "batching", "batchItems", "strictZeroValidation")) {
            features.put(f, true)
        }
        return JSONObject().put("clientName", "durable-streams-sdk (kotlin)").put("clientVersion", sdkVersion()).put("features", features)
    }

    /** A new client whenever the set of dynamic headers/params changes. */
    fun rebuild(): JSONObject {
        // The contract expects plain appends to be retried on 5xx; the SDK's default
        // (when-unprocessed) never risks a duplicate and would not.
        client = Client(serverUrl, dynamicHeaders = dynamicHeaders.toMap(), dynamicParams = dynamicParams.toMap(),
            retry = RetryOptions(appendRetry = "at-least-once"))
        return JSONObject()
    }

    fun stream(path: String): Stream =
        (client ?: throw Failure("INTERNAL_ERROR", "no init received yet")).stream(path, contentTypes[path])

    fun contentType(path: String) = contentTypes[path] ?: DEFAULT_CONTENT_TYPE

    suspend fun create(c: JSONObject): JSONObject {
        val p = c.need("path")
        val ct = c.str("contentType") ?: DEFAULT_CONTENT_TYPE
        val r = stream(p).create(ct, c.long("ttlSeconds"), c.str("expiresAt"), c.optBoolean("closed", false),
            c.str("data")?.encodeToByteArray(), c.headers())
        contentTypes[p] = r.contentType ?: ct
        return JSONObject().put("status", r.status.toInt()).also { o -> r.nextOffset?.let { o.put("offset", it) } }
    }

    suspend fun connect(c: JSONObject): JSONObject {
        val p = c.need("path")
        val m = stream(p).head(c.headers())
        m.contentType?.let { contentTypes[p] = it }
        return JSONObject().put("status", 200).put("offset", m.nextOffset)
    }

    suspend fun head(c: JSONObject): JSONObject {
        val p = c.need("path")
        val m = stream(p).head(c.headers())
        val o = JSONObject().put("status", 200).put("offset", m.nextOffset).put("streamClosed", m.closed)
        m.contentType?.let { o.put("contentType", it); contentTypes[p] = it }
        m.ttlSeconds?.let { o.put("ttlSeconds", it.toLong()) }
        m.expiresAt?.let { o.put("expiresAt", it) }
        return o
    }

    suspend fun delete(c: JSONObject): JSONObject {
        val p = c.need("path")
        stream(p).delete(c.headers())
        contentTypes.remove(p)
        return JSONObject().put("status", 200)
    }

    suspend fun append(c: JSONObject): JSONObject {
        val p = c.need("path")
        val text = c.need("data")
        val data = if (c.optBoolean("binary", false)) {
            try { Base64.getDecoder().decode(text) } catch (e: IllegalArgumentException) {
                throw Failure("INVALID_ARGUMENT", "data is not valid base64")
            }
        } else text.encodeToByteArray()
        // On a JSON stream the core validates `data` and sends it as `[data]`.
        val r = stream(p).append(data, contentType(p), c.str("seq"), c.headers())
        val o = JSONObject().put("status", 200)
        r.nextOffset?.let { o.put("offset", it) }
        if (r.duplicate) o.put("duplicate", true)
        r.producerEpoch?.let { o.put("producerEpoch", it.toLong()) }
        r.producerSeq?.let { o.put("producerSeq", it.toLong()) }
        reportSent(o, r.sentHeaders, r.sentParams)
        return o
    }

    suspend fun close(c: JSONObject): JSONObject {
        val p = c.need("path")
        val r = stream(p).close(c.str("data")?.encodeToByteArray(), c.str("contentType") ?: contentType(p))
        return JSONObject().put("finalOffset", r.finalOffset)
    }

    suspend fun read(c: JSONObject): JSONObject {
        val p = c.need("path")
        val deadline = System.nanoTime() + (c.long("timeoutMs") ?: 5000) * 1_000_000
        val maxChunks = c.long("maxChunks") ?: 100
        val live = when (val l = c.opt("live")) {
            null, false -> LiveMode.OFF
            true -> LiveMode.AUTO
            "long-poll" -> LiveMode.LONG_POLL
            "sse" -> LiveMode.SSE
            else -> throw Failure("INVALID_ARGUMENT", "unknown live mode $l")
        }
        val session = stream(p).session(c.str("offset") ?: "-1", live, c.headers())
        session.use { s ->
            val chunks = JSONArray()
            val pending = Pending()
            var status = 200
            var upToDate = false
            var closed = false
            while (true) {
                val left = (deadline - System.nanoTime()) / 1_000_000
                // Time budget reached: not an error (reference adapter convention).
                val next = if (left <= 0) null else withTimeoutOrNull(left) { Result.success(s.next()) }
                if (next == null) { upToDate = true; break }
                val chunk = next.getOrThrow() ?: break // caught up (catch-up mode) or stream closed
                status = chunk.status.toInt()
                pending.add(chunk)
                if (chunk.partial) continue
                pending.take()?.let { chunks.put(JSONObject().put("data", it).put("offset", chunk.nextOffset)) }
                upToDate = chunk.upToDate
                closed = chunk.streamClosed
                if (closed || chunks.length() >= maxChunks || (c.optBoolean("waitForUpToDate", false) && upToDate)) break
            }
            pending.take()?.let { chunks.put(JSONObject().put("data", it)) } // cut short by the time budget
            val pos = s.position
            val o = JSONObject().put("status", status).put("chunks", chunks).put("offset", pos.offset)
                .put("upToDate", upToDate).put("streamClosed", closed)
            pos.cursor?.let { o.put("cursor", it) }
            reportSent(o, s.sentHeaders, s.sentParams)
            return o
        }
    }

    fun producerFor(c: JSONObject, maxInFlight: Long? = null, maxBatchItems: Long? = null, lingerMs: Double? = null): Producer {
        val p = c.need("path")
        return stream(p).producer(c.need("producerId"), c.long("epoch") ?: 0, c.optBoolean("autoClaim", false),
            maxBatchItems = maxBatchItems, lingerMs = lingerMs, maxInFlight = maxInFlight,
            contentType = contentType(p), headers = c.headers())
    }

    /** The session's producer for (path, producerId, epoch), started on first use. */
    fun cached(c: JSONObject): Producer =
        producers.getOrPut(listOf(c.need("path"), c.need("producerId"), c.long("epoch") ?: 0L)) { producerFor(c) }

    /** One message, sent as one batch: enqueue, flush, wait for the acknowledgement. */
    suspend fun idempotentAppend(c: JSONObject): JSONObject {
        val producer = cached(c)
        val ack = producer.appendAsync(c.need("data").encodeToByteArray())
        producer.flush()
        val acked = ack.await()
        return JSONObject().put("status", 200).put("duplicate", acked.duplicate).put("producerSeq", acked.seq.toLong())
            .also { o -> acked.nextOffset?.let { o.put("offset", it) } }
    }

    /** A fresh producer (seq from 0); maxInFlight 1: one batch, else one batch per item, pipelined. */
    suspend fun idempotentAppendBatch(c: JSONObject): JSONObject {
        val items = c.optJSONArray("items") ?: throw Failure("PARSE_ERROR", "malformed idempotent-append-batch command: items")
        val maxInFlight = maxOf(1L, c.long("maxInFlight") ?: 1L)
        val producer = producerFor(c, maxInFlight, if (maxInFlight == 1L) maxOf(items.length(), 1).toLong() else 1L, 3_600_000.0)
        val acks = (0 until items.length()).map { producer.appendAsync(items.get(it).toString().encodeToByteArray()) }
        producer.flush()
        var lastSeq: Long? = null
        for (a in acks) lastSeq = a.await().seq.toLong()
        producer.detach()
        return JSONObject().put("status", 200).also { o -> lastSeq?.let { o.put("producerSeq", it) } }
    }

    /** Close through the cached producer; a repeated close answers the first result. */
    suspend fun idempotentClose(c: JSONObject): JSONObject {
        val r = cached(c).closeStream(c.str("data")?.encodeToByteArray())
        return JSONObject().put("status", 200).put("finalOffset", r.finalOffset)
    }

    /** Flush and stop the cached producer without closing the stream, then forget it. */
    suspend fun idempotentDetach(c: JSONObject): JSONObject {
        producers.remove(listOf(c.need("path"), c.need("producerId"), c.long("epoch") ?: 0L))?.detach()
        return JSONObject().put("status", 200)
    }

    fun reportSent(o: JSONObject, headers: Map<String, String>, params: Map<String, String>) {
        if (dynamicHeaders.isNotEmpty()) o.put("headersSent", JSONObject(headers))
        if (dynamicParams.isNotEmpty()) o.put("paramsSent", JSONObject(params))
    }

    fun setDynamic(c: JSONObject, into: LinkedHashMap<String, suspend () -> String>): JSONObject {
        val name = c.need("name")
        val f = valueFunction(c.need("valueType"), c.str("initialValue"))
        // Setting a name again replaces it (and restarts its counter); header names are case-insensitive.
        val isHeader = into === dynamicHeaders
        into.keys.removeIf { if (isHeader) it.equals(name, ignoreCase = true) else it == name }
        into[name] = f
        return rebuild()
    }

    /** `validate`: construct the options through the binding and report its verdict. */
    fun validate(c: JSONObject): JSONObject {
        val t = c.optJSONObject("target") ?: JSONObject()
        fun num(k: String): Double? = if (t.has(k) && !t.isNull(k)) t.getNumber(k).toDouble() else null
        when (t.optString("target")) {
            "retry-options" -> Client(serverUrl.ifEmpty { "http://127.0.0.1:1" },
                retry = RetryOptions(num("maxRetries")?.toLong(), num("initialDelayMs"), num("maxDelayMs"), num("multiplier"))).close()
            "idempotent-producer" -> {
                val c2 = Client(serverUrl.ifEmpty { "http://127.0.0.1:1" })
                // A missing id gets a default (reference adapter); an empty one is invalid.
                val p = c2.stream("/validate", DEFAULT_CONTENT_TYPE).producer(
                    t.optString("producerId", "validate-producer"), num("epoch")?.toLong() ?: 0,
                    maxBatchBytes = num("maxBatchBytes")?.toLong(), maxBatchItems = num("maxBatchItems")?.toLong(),
                )
                p.close()
                c2.close()
            }
            else -> throw Failure("NOT_SUPPORTED", "unknown validate target ${t.opt("target")}")
        }
        return JSONObject()
    }
}

private fun envelope(type: String, result: Result<JSONObject>): JSONObject = result.fold(
    { it.put("type", type).put("success", true) },
    { e ->
        val (code, status) = when (e) {
            is Failure -> e.code to e.status
            is DurableStreamException -> e.conformanceCode to e.status
            else -> "INTERNAL_ERROR" to null
        }
        JSONObject().put("type", "error").put("success", false).put("commandType", type).put("errorCode", code)
            .put("message", e.message ?: e.toString()).also { o -> status?.let { o.put("status", it) } }
    },
)

fun main() = runBlocking {
    val adapter = Adapter()
    val out = System.out
    val input = System.`in`.bufferedReader(Charsets.UTF_8)
    while (true) {
        val line = input.readLine()?.trimEnd('\r') ?: break
        if (line.isBlank()) continue
        val cmd = try { JSONObject(line) } catch (e: Exception) { null }
        val type = cmd?.optString("type", "unknown") ?: "init"
        val result = if (cmd == null) Result.failure(Failure("PARSE_ERROR", "invalid JSON"))
        else try { Result.success(adapter.run(cmd)) } catch (e: kotlinx.coroutines.CancellationException) { throw e } catch (e: Exception) { Result.failure(e) }
        out.print(envelope(type, result).toString() + "\n")
        out.flush()
        if (type == "shutdown") break
    }
}
