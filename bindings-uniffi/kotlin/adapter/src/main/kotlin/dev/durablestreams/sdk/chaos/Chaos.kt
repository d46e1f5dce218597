// Chaos run for the Kotlin binding, the counterpart of tests/chaos/chaos_python.py: starts
// tests/chaos/proxy.mjs (which starts the reference server), sends N messages through the
// proxy with the binding's producer (default producer options), reads them back straight
// from the server, and follows the stream live (SSE) through the same proxy; every message
// must be stored once, in order, and seen live once, in order, through mid-stream cuts and
// stalls. Prints one `summary: chaos (kotlin): ...` line; exits non-zero on any loss,
// duplicate or reordering, or when the live reader met too few mid-stream faults.
// Run from the prebuilt adapter jar by bindings-uniffi/chaos.sh (nothing compiled there).
//
//   java ... dev.durablestreams.sdk.chaos.ChaosKt PATH/TO/proxy.mjs
//   (size, seed, rate: DS_CHAOS_MESSAGES (20000), DS_CHAOS_SEED (1), DS_CHAOS_RATE (0.04))
package dev.durablestreams.sdk.chaos

import dev.durablestreams.sdk.Client
import dev.durablestreams.sdk.DurableStreamException
import dev.durablestreams.sdk.JSON
import dev.durablestreams.sdk.LiveMode
import dev.durablestreams.sdk.RetryOptions
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.json.JSONObject
import java.net.URI
import java.util.Locale
import kotlin.system.exitProcess

private const val BURST = 50 // messages back to back, then a pause (as in core/tests/chaos.rs)
private const val PAUSE_MS = 20L

// Mid-stream faults the live reader must have met at the default rate (4%) or above in
// a run of at least 20,000 messages, so that it proves the reader survives them (as in core/tests/chaos.rs).
private const val MIN_LIVE_FAULTS = 5

private class Tally(val dups: Int, val lost: Int, val ooo: Int) {
    val clean get() = dups + lost + ooo == 0
}

/** Duplicates, lost and out of order of the numbers seen, against 0 until n. */
private fun tally(seen: List<Int>, n: Int): Tally {
    val count = IntArray(n)
    var stray = 0
    for (v in seen) if (v in 0 until n) count[v]++ else stray++
    val dups = count.sumOf { if (it > 1) it - 1 else 0 } + stray
    val lost = count.count { it == 0 }
    val ooo = seen.zipWithNext().count { (a, b) -> b <= a }
    return Tally(dups, lost, ooo)
}

private fun numberOf(json: String): Int = JSONObject(json).getInt("n")

/**
 * The proxy's faults per kind as compact JSON in the proxy's own key order (org.json
 * does not keep it), so the line reads as Python's and Node's.
 */
private fun faultsJson(raw: String): String =
    Regex("\"faults\"\\s*:\\s*(\\{[^{}]*\\})").find(raw)?.groupValues?.get(1)?.replace(Regex("\\s"), "") ?: "{}"

fun main(args: Array<String>) {
    val proxyScript = args.firstOrNull() ?: "tests/chaos/proxy.mjs"
    val n = System.getenv("DS_CHAOS_MESSAGES")?.toInt() ?: 20_000
    val seed = System.getenv("DS_CHAOS_SEED")?.toInt() ?: 1
    val rate = System.getenv("DS_CHAOS_RATE") ?: "0.04"
    val proxy = ProcessBuilder(
        "node", proxyScript, "--seed", "$seed", "--rate", rate, "--stall-ms", "2500", "--max-seconds", "600",
    ).redirectError(ProcessBuilder.Redirect.INHERIT).start()
    val rc = try {
        val urls = JSONObject(proxy.inputStream.bufferedReader().readLine() ?: error("chaos proxy did not start"))
        run(n, seed, rate, urls.getString("proxy"), urls.getString("server"))
    } finally {
        proxy.destroy()
        proxy.waitFor()
    }
    // The native library's runtime threads would keep the JVM alive.
    exitProcess(rc)
}

private fun run(n: Int, seed: Int, rate: String, proxyUrl: String, serverUrl: String): Int = runBlocking {
    val path = "/chaos/kotlin-${ProcessHandle.current().pid()}"
    val direct = Client(serverUrl).stream(path)
    direct.create(contentType = JSON)
    // Timeouts shorter than the proxy's 2.5 s stall; retries enough for a run of faults.
    val proxied = Client(proxyUrl, requestTimeoutMs = 1000, liveIdleTimeoutMs = 1500, retry = RetryOptions(maxRetries = 30))
    val liveStream = proxied.stream(path)

    val liveSeen = java.util.Collections.synchronizedList(mutableListOf<Int>())
    val live = async(Dispatchers.IO) {
        runCatching {
            withTimeoutOrNull(240_000) {
                liveStream.readJson(offset = "-1", live = LiveMode.SSE).take(n).collect { liveSeen.add(numberOf(it)) }
            }
        }.exceptionOrNull()
    }

    val started = System.nanoTime()
    var flushError: DurableStreamException? = null
    val producer = liveStream.producer("chaos-kotlin")
    try {
        for (i in 0 until n) {
            producer.append("{\"n\":$i}")
            if (i % BURST == BURST - 1) delay(PAUSE_MS) // bursts, else default batching makes one request
        }
        producer.flush()
    } catch (e: DurableStreamException) {
        flushError = e
    } finally {
        try {
            producer.detach()
        } catch (_: DurableStreamException) {
        }
    }
    val elapsed = (System.nanoTime() - started) / 1e9

    val stored = direct.readJson("-1").toList().map(::numberOf)
    val liveError = withTimeoutOrNull(60_000) { live.await() }
    val liveDone = live.isCompleted
    if (!liveDone) live.cancel()
    val raw = URI("$proxyUrl/__chaos/stats").toURL().readText()
    val stats = JSONObject(raw)

    val s = tally(stored, n)
    val l = tally(liveSeen.toList(), n)
    val faultsByKind = stats.getJSONObject("faults")
    val faults = faultsByKind.keySet().sumOf { faultsByKind.getInt(it) }
    // What the live reader went through (tests/chaos/proxy.mjs, "reader").
    val reader = stats.getJSONObject("reader")
    val readerFaultsByKind = reader.getJSONObject("faults")
    val readerFaults = readerFaultsByKind.keySet().sumOf { readerFaultsByKind.getInt(it) }
    val midStream = reader.getInt("midStream")
    val minLive = if (rate.toDouble() >= 0.04 && n >= 20_000) MIN_LIVE_FAULTS else 0
    val ok = flushError == null && liveError == null && liveDone && stored.size == n && s.clean &&
        liveSeen.size == n && l.clean && midStream >= minLive
    val p = stats.getJSONObject("producer")
    // Repeats over faults on the producer's own requests (tests/chaos/proxy.mjs, extraPerFault).
    val extra = (p.getInt("requests") - p.getInt("batches")).toDouble() / maxOf(p.getInt("faults"), 1)
    val p409 = p.getJSONObject("statuses").optInt("409", 0)
    println(
        "summary: chaos (kotlin): ${if (ok) 1 else 0} passed, ${if (ok) 0 else 1} failed, 0 skipped — sent $n, " +
            "stored ${stored.size}, duplicates ${s.dups}, lost ${s.lost}, out of order ${s.ooo}, " +
            "requests per fault ${"%.2f".format(Locale.ROOT, extra)} (producer: ${p.getInt("requests")} requests for " +
            "${p.getInt("batches")} batches, ${p.getInt("faults")} faults, $p409 409s); live consumer saw " +
            "${liveSeen.size} (duplicates ${l.dups}, lost ${l.lost}, out of order ${l.ooo}) through $readerFaults " +
            "faults ($midStream mid-stream) and ${reader.getInt("reconnects")} reconnects; proxy requests " +
            "${stats.getInt("requests")}, faults $faults ${faultsJson(raw)}; ${"%.1f".format(Locale.ROOT, elapsed)} s " +
            "(seed $seed, rate $rate)",
    )
    flushError?.let { System.err.println("chaos (kotlin): flush failed: ${it::class.simpleName}: ${it.message}") }
    liveError?.let { System.err.println("chaos (kotlin): live reader failed: ${it::class.simpleName}: ${it.message}") }
    if (!liveDone) System.err.println("chaos (kotlin): live reader still running 60 s after the flush")
    if (midStream < minLive) {
        System.err.println("chaos (kotlin): the live reader met $midStream mid-stream faults, fewer than $minLive: not exercised")
    }
    proxied.close()
    if (ok) 0 else 1
}
