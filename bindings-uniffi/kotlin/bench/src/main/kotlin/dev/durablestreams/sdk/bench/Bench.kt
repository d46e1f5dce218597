// W1–W5 of bench/README.md through the Kotlin binding (client "kotlin-binding"), one
// workload per JVM:  java ... BenchKt w1|w2|w3|w4|w5 [--quick] [--server node|rust] [--out FILE]
// Servers, pre-fills and the W4/W5 writer are the Rust benchmark's own helpers
// (target/release/ds-bench, $DS_BENCH), so the traffic is the core's. Prints the same
// JSON result line (schema 1). JVM warm-up: before its timed section each workload runs
// its own code path untimed in the same JVM (see warmup below); only the second run is
// reported.
package dev.durablestreams.sdk.bench

import dev.durablestreams.sdk.Client
import dev.durablestreams.sdk.JSON
import dev.durablestreams.sdk.LiveMode
import dev.durablestreams.sdk.Stream
import dev.durablestreams.sdk.ffi.sdkVersion
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.json.JSONObject
import java.io.File
import java.lang.management.ManagementFactory
import java.time.Instant
import kotlin.system.exitProcess

private val dsBench = System.getenv("DS_BENCH") ?: "target/release/ds-bench"

/** A fresh server (`ds-bench server`), stopped by closing its stdin. */
private class Server(kind: String) : AutoCloseable {
    private val process = ProcessBuilder(dsBench, "server", "--server", kind)
        .redirectError(ProcessBuilder.Redirect.INHERIT).start()
    val url: String = process.inputStream.bufferedReader().readLine() ?: error("ds-bench server did not start")

    override fun close() {
        process.outputStream.close()
        process.waitFor()
    }
}

/** Run a ds-bench helper (prefill, writer) to its end; its last stdout line is its JSON summary. */
private fun helper(vararg args: String): JSONObject {
    val p = ProcessBuilder(dsBench, *args).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    val out = p.inputStream.bufferedReader().readLines()
    check(p.waitFor() == 0) { "ds-bench ${args[0]} failed" }
    return JSONObject(out.last { it.startsWith("{") })
}

private val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean

/** user and system CPU seconds of this process (all JVM threads and the core's threads). */
private fun cpuSplit(): Pair<Double, Double> {
    val f = File("/proc/self/stat").readText().substringAfterLast(") ").split(" ")
    return f[11].toDouble() / 100 to f[12].toDouble() / 100
}

private fun peakRssMib(): Double =
    File("/proc/self/status").readLines().first { it.startsWith("VmHWM:") }.split(Regex("\\s+"))[1].toDouble() / 1024

private class Measured(val elapsedS: Double, val cpuS: Double, val userS: Double, val sysS: Double)

private inline fun <T> timed(block: () -> T): Pair<T, Measured> {
    val (u0, s0) = cpuSplit()
    val c0 = os.processCpuTime
    val t0 = System.nanoTime()
    val r = block()
    val el = (System.nanoTime() - t0) / 1e9
    val c1 = os.processCpuTime
    val (u1, s1) = cpuSplit()
    return r to Measured(el, (c1 - c0) / 1e9, u1 - u0, s1 - s0)
}

private fun unixNs(): Long = Instant.now().let { it.epochSecond * 1_000_000_000 + it.nano }

/** `{"i":<i>,"p":"xxx…"}` padded to [size] bytes, as the core's json_message. */
private fun jsonMessage(i: Long, size: Int): ByteArray {
    val head = """{"i":$i,"p":""""
    return (head + "x".repeat(maxOf(0, size - head.length - 2)) + "\"}").encodeToByteArray()
}

private class Line(val workload: String, val variant: String?, val server: String) {
    val o = JSONObject()
    fun emit(params: JSONObject, ok: Boolean, check: String, count: Long, bytes: Long, unit: String, m: Measured,
             latency: JSONObject?, out: String?) {
        o.put("schema", 1).put("workload", workload).put("variant", variant ?: JSONObject.NULL)
            .put("client", "kotlin-binding").put("client_version", sdkVersion()).put("server", server)
            .put("date", Instant.now().toString()).put("cpus", Runtime.getRuntime().availableProcessors())
            .put("compression", false).put("params", params).put("ok", ok).put("check", check).put("count", count)
            .put("bytes", bytes).put("elapsed_s", m.elapsedS).put("throughput", count / m.elapsedS / (if (unit == "MiB/s") MIB else 1.0))
            .put("unit", unit).put("cpu_s", m.cpuS).put("cpu_user_s", m.userS).put("cpu_sys_s", m.sysS)
            .put("peak_rss_mib", peakRssMib()).put("latency_ms", latency ?: JSONObject.NULL)
            .put("server_cpu_s", JSONObject.NULL).put("ceiling", JSONObject.NULL).put("pct_of_ceiling", JSONObject.NULL)
        val text = o.toString()
        println(text)
        out?.let { File(it).appendText(text + "\n") }
    }
}

private const val MIB = 1024.0 * 1024.0

private class Args(argv: Array<String>) {
    val workload = argv.firstOrNull() ?: "help"
    private val flags = HashMap<String, String>()
    init {
        var i = 1
        while (i < argv.size) {
            val k = argv[i].removePrefix("--")
            if (k == "quick") flags[k] = "on" else flags[k] = argv.getOrElse(++i) { error("--$k needs a value") }
            i++
        }
    }
    val quick = flags["quick"] == "on"
    val server = flags["server"] ?: "node"
    val out = flags["out"]
    val serverName = if (server == "node") "node-ref" else server
}

// Bench clients read without compression, as the core's (bench/README.md, Compression);
// a catch-up of 1 GiB from the reference server takes seconds before its headers arrive.
private fun client(url: String) = Client(url, compression = false, requestTimeoutMs = 300_000)

private val runId = "${System.currentTimeMillis()}-${ProcessHandle.current().pid()}"

private suspend fun createJson(c: Client, path: String): Stream = c.stream(path, JSON).also { it.create(contentType = JSON) }

// ---------------------------------------------------------------------------------
// W1: produce. Three ways in: `send` suspends under back-pressure (the core's
// `append().await`); `append` enqueues without suspending (the message waits in line
// beyond the buffer limit); `appendAll` enqueues [MANY] messages per call (one crossing).

private const val MANY = 1000

private suspend fun produce(s: Stream, id: String, n: Long, api: String) {
    val p = s.producer(id, contentType = JSON)
    when (api) {
        "send" -> for (i in 0 until n) p.send(jsonMessage(i, 100))
        "append" -> for (i in 0 until n) p.append(jsonMessage(i, 100))
        else -> for (start in 0 until n step MANY.toLong()) {
            p.appendAll((start until minOf(n, start + MANY)).map { jsonMessage(it, 100) })
        }
    }
    p.flush()
    p.detach()
}

private fun w1(a: Args) = runBlocking {
    val n = if (a.quick) 100_000L else 1_000_000L
    val warm = if (a.quick) 20_000L else 100_000L
    for (api in listOf("send", "append", "appendAll")) {
        Server(a.server).use { server ->
            val c = client(server.url)
            produce(createJson(c, "/bench/$runId/w1-$api-warmup"), "warmup", warm, api)
            val s = createJson(c, "/bench/$runId/w1-$api")
            val (_, m) = timed { produce(s, "w1", n, api) }
            var got = 0L
            s.read().collect { got += it.items?.size ?: 0 }
            val params = JSONObject().put("messages", n).put("msg_size", 100).put("api", "Producer.$api" + if (api == "appendAll") " ($MANY per call)" else "")
                .put("producer", "defaults").put("jvm_warmup", "$warm messages through the same loop, untimed")
            Line("W1", api, a.serverName).emit(params, got == n, "$got/$n read back", n, n * 100, "msgs/s", m, null, a.out)
            c.close()
        }
    }
}

// ---------------------------------------------------------------------------------
// W2 / W3: catch-up reads of streams the core's own pre-fill wrote.

private suspend fun readBytes(s: Stream): Long {
    var b = 0L
    s.read().collect { b += it.data.size }
    return b
}

private suspend fun readItems(s: Stream): Long {
    var n = 0L
    // Each message decoded to org.json's generic value, as the core decodes to serde_json::Value.
    s.readJson { JSONObject(it) }.collect { if (it.length() > 0) n++ }
    return n
}

private fun w2(a: Args) = runBlocking {
    val total = if (a.quick) 64L shl 20 else 1L shl 30
    val count = total / 1024
    Server(a.server).use { server ->
        val path = "/bench/$runId/w2"
        System.err.println("W2 (kotlin): pre-filling $path with $count appends of 1024 B (ds-bench prefill, not timed)...")
        helper("prefill", "--server-url", server.url, "--stream", path, "--kind", "text", "--count", "$count", "--msg-size", "1024")
        val c = client(server.url)
        val s = c.stream(path, "text/plain")
        readBytes(s) // warm-up read, as the core's (and the JVM's JIT warm-up)
        val (bytes, m) = timed { (1..3).sumOf { readBytes(s) } }
        val params = JSONObject().put("bytes", total).put("append_size", 1024).put("reads", 3).put("warmup", true)
        Line("W2", null, a.serverName).emit(params, bytes == 3 * total, "$bytes/${3 * total} bytes (3 reads)", bytes, bytes, "MiB/s", m, null, a.out)
        c.close()
    }
}

private fun w3(a: Args) = runBlocking {
    val n = if (a.quick) 100_000L else 1_000_000L
    Server(a.server).use { server ->
        val path = "/bench/$runId/w3"
        System.err.println("W3 (kotlin): pre-filling $path with $n JSON messages (ds-bench prefill, not timed)...")
        helper("prefill", "--server-url", server.url, "--stream", path, "--kind", "json", "--count", "$n", "--msg-size", "100")
        val c = client(server.url)
        val s = c.stream(path, JSON)
        readItems(s) // warm-up read, as the core's
        val (items, m) = timed { (1..3).sumOf { readItems(s) } }
        val params = JSONObject().put("messages", n).put("msg_size", 100).put("decode", "org.json JSONObject").put("reads", 3).put("warmup", true)
        Line("W3", null, a.serverName).emit(params, items == 3 * n, "$items/${3 * n} items (3 reads)", items, 3 * n * 100, "items/s", m, null, a.out)
        c.close()
    }
}

// ---------------------------------------------------------------------------------
// W4 / W5: live tails; latency from the writer's clock before its POST to the moment
// a message is handed to this code.

private sealed interface Event {
    data object Ready : Event
    class Latency(val i: Int, val ns: Long) : Event
    class Failed(val why: String) : Event
}

private class TailResult(val m: Measured, val latencies: LongArray, val received: Int, val duplicates: Int, val errors: List<String>, val writer: JSONObject)

private fun CoroutineScope.tailOne(s: Stream, live: LiveMode, events: Channel<Event>): Job = launch(Dispatchers.Default) {
    var ready = false
    try {
        s.read(live = live).collect { c ->
            val now = unixNs()
            c.items?.forEach { raw ->
                val o = JSONObject(raw)
                events.trySend(Event.Latency(o.getInt("i"), now - o.getLong("t")))
            }
            if (c.upToDate && !ready) {
                ready = true
                events.trySend(Event.Ready)
            }
        }
    } catch (e: kotlinx.coroutines.CancellationException) {
        throw e
    } catch (e: Exception) {
        events.trySend(Event.Failed(e.toString()))
    }
}

private suspend fun CoroutineScope.tail(
    server: Server, paths: List<String>, live: LiveMode, n: Int, writerArgs: List<String>,
): TailResult {
    val c = client(server.url)
    val events = Channel<Event>(Channel.UNLIMITED)
    val jobs = paths.map { tailOne(c.stream(it, JSON), live, events) }
    val errors = mutableListOf<String>()
    var ready = 0
    withTimeoutOrNull(60_000) {
        while (ready < paths.size) when (val e = events.receive()) {
            Event.Ready -> ready++
            is Event.Failed -> errors += e.why
            is Event.Latency -> {}
        }
    } ?: error("only $ready/${paths.size} sessions caught up: $errors")
    // Caught up means the catch-up read answered; let the live request that follows reach the server.
    delay(500L + 2 * paths.size)
    val latencies = LongArray(n * 2)
    val seen = BooleanArray(n)
    var received = 0
    var duplicates = 0
    var k = 0
    var writer: JSONObject? = null
    val (_, m) = timed {
        val w = Thread { writer = helper("writer", "--server-url", server.url, *writerArgs.toTypedArray()) }.also { it.start() }
        withTimeoutOrNull(n / 200L * 1000 + 60_000) {
            while (received < n) when (val e = events.receive()) {
                is Event.Latency -> {
                    if (e.i !in 0 until n) errors += "unexpected message ${e.i}"
                    else if (seen[e.i]) duplicates++ else { seen[e.i] = true; received++ }
                    if (k < latencies.size) latencies[k++] = e.ns
                }
                is Event.Failed -> errors += e.why
                Event.Ready -> {}
            }
        }
        w.join()
    }
    jobs.forEach { it.cancelAndJoin() }
    c.close()
    return TailResult(m, latencies.copyOf(k), received, duplicates, errors, writer ?: JSONObject())
}

/** Nearest-rank percentiles in ms, as the core's percentiles_ms. */
private fun percentiles(ns: LongArray): JSONObject? {
    if (ns.isEmpty()) return null
    val s = ns.sortedArray()
    fun rank(p: Double) = s[(Math.ceil(p * s.size).toInt() - 1).coerceIn(0, s.size - 1)] / 1e6
    return JSONObject().put("p50", rank(0.5)).put("p99", rank(0.99)).put("max", s.last() / 1e6)
}

private fun liveLine(workload: String, variant: String?, a: Args, r: TailResult, n: Int, params: JSONObject) {
    val writerErrors = r.writer.optLong("errors", 0)
    var check = "${r.received}/$n received, ${r.duplicates} dup"
    if (writerErrors > 0) check += ", $writerErrors append errors"
    r.errors.firstOrNull()?.let { check += ", ${r.errors.size} errors (first: $it)" }
    params.put("writer", r.writer)
    val ok = r.received == n && r.duplicates == 0 && r.errors.isEmpty() && writerErrors == 0L
    Line(workload, variant, a.serverName).emit(params, ok, check, r.received.toLong(), 0, "msgs/s", r.m, percentiles(r.latencies), a.out)
}

private fun w4(a: Args) = runBlocking {
    val n = if (a.quick) 200 else 1000
    for ((name, live) in listOf("long-poll" to LiveMode.LONG_POLL, "sse" to LiveMode.SSE)) {
        Server(a.server).use { server ->
            val c = client(server.url)
            // JVM warm-up: the same tail, 200 messages 1 ms apart, untimed.
            val warmPrefix = "/bench/$runId/w4-$name-warmup/"
            createJson(c, "${warmPrefix}0")
            tail(server, listOf("${warmPrefix}0"), live, 200,
                listOf("--stream-prefix", warmPrefix, "--streams", "1", "--messages", "200", "--interval-ms", "1", "--writers", "1", "--msg-size", "100"))
            val prefix = "/bench/$runId/w4-$name/"
            createJson(c, "${prefix}0")
            System.err.println("W4 $name (kotlin): $n messages, 5 ms apart...")
            val r = tail(server, listOf("${prefix}0"), live, n,
                listOf("--stream-prefix", prefix, "--streams", "1", "--messages", "$n", "--interval-ms", "5", "--writers", "1", "--msg-size", "100"))
            liveLine("W4", name, a, r, n, JSONObject().put("messages", n).put("interval_ms", 5).put("msg_size", 100)
                .put("jvm_warmup", "200 messages through the same tail, untimed"))
            c.close()
        }
    }
}

private fun w5(a: Args) = runBlocking {
    val (k, n) = if (a.quick) 20 to 2_000 else 200 to 20_000
    Server(a.server).use { server ->
        val c = client(server.url)
        // JVM warm-up: 20 streams, 2,000 messages at the same rate, untimed.
        val warmPrefix = "/bench/$runId/w5-warmup/"
        val warmPaths = (0 until 20).map { "$warmPrefix$it" }.onEach { createJson(c, it) }
        tail(server, warmPaths, LiveMode.SSE, 2_000,
            listOf("--stream-prefix", warmPrefix, "--streams", "20", "--messages", "2000", "--rate", "2000", "--writers", "16", "--msg-size", "100"))
        val prefix = "/bench/$runId/w5/"
        val paths = (0 until k).map { "$prefix$it" }.onEach { createJson(c, it) }
        System.err.println("W5 (kotlin): tailing $k streams over SSE, $n messages at 2000/s...")
        val r = tail(server, paths, LiveMode.SSE, n,
            listOf("--stream-prefix", prefix, "--streams", "$k", "--messages", "$n", "--rate", "2000", "--writers", "16", "--msg-size", "100"))
        liveLine("W5", null, a, r, n, JSONObject().put("streams", k).put("messages", n).put("rate", 2000).put("writers", 16)
            .put("msg_size", 100).put("jvm_warmup", "20 streams x 2000 messages through the same tail, untimed"))
        c.close()
    }
}

// ---------------------------------------------------------------------------------
// The cost of one call into the binding, by kind (per call, after a warm-up of the same
// number of calls). Explains W1's per-message figures.

private fun calls(a: Args) = runBlocking {
    Server(a.server).use { server ->
        val c = client(server.url)
        val s = createJson(c, "/bench/$runId/calls")
        val p = s.producer("calls")
        val m = jsonMessage(0, 100)
        // The calling thread's CPU time too: on a loaded machine wall time mostly measures waiting for a CPU.
        val threads = ManagementFactory.getThreadMXBean()
        fun per(name: String, n: Int, items: Int = 1, f: () -> Unit) {
            repeat(n) { f() }
            val c0 = threads.currentThreadCpuTime
            val t0 = System.nanoTime()
            repeat(n) { f() }
            val wall = (System.nanoTime() - t0) / 1e3 / n / items
            val cpu = (threads.currentThreadCpuTime - c0) / 1e3 / n / items
            println("calls: %-48s %7.2f µs wall %7.2f µs CPU (calling thread)".format(name, wall, cpu))
        }
        per("sdkVersion() (function, returns a String)", 100_000) { sdkVersion() }
        per("Producer.epoch (method, returns a Long)", 100_000) { p.epoch }
        per("Producer.append(ByteArray of 100 B)", 100_000) { p.append(m) }
        per("Producer.appendAll(1000 x 100 B), per message", 100, 1000) { p.appendAll(List(1000) { m }) }
        p.flush()
        p.detach()
        c.close()
    }
}

fun main(argv: Array<String>) {
    val a = Args(argv)
    when (a.workload) {
        "w1" -> w1(a)
        "w2" -> w2(a)
        "w3" -> w3(a)
        "w4" -> w4(a)
        "w5" -> w5(a)
        "calls" -> calls(a)
        else -> {
            System.err.println("usage: BenchKt w1|w2|w3|w4|w5|calls [--quick] [--server node|rust] [--out FILE]")
            exitProcess(2)
        }
    }
    exitProcess(0)
}
