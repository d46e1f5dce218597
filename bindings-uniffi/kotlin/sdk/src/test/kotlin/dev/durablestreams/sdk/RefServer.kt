package dev.durablestreams.sdk

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.util.UUID

/** The npm reference server (tests/server/ref-server.mjs), one per test JVM. */
object RefServer {
    private val repo = File(System.getProperty("ds.repo") ?: "../..").canonicalFile
    private val process: Process by lazy {
        ProcessBuilder("node", File(repo, "tests/server/ref-server.mjs").path)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .also { it.environment()["DS_PORT"] = "0" }
            .start()
            .also { p -> Runtime.getRuntime().addShutdownHook(Thread { p.destroy() }) }
    }

    /** http://127.0.0.1:PORT, the first line the server prints. */
    val url: String by lazy { process.inputStream.bufferedReader().readLine() ?: error("reference server did not start") }

    fun freshPath(name: String) = "/kotlin-$name-${UUID.randomUUID()}"

    private val http = HttpClient.newHttpClient()

    /** Arm a fault on [path] (the server's `/_test/inject-error`, as core/tests/producer_faults.rs). */
    fun inject(path: String, faultJson: String) {
        val body = faultJson.trimEnd('}') + ",\"path\":\"$path\"}"
        val req = HttpRequest.newBuilder(URI.create("$url/_test/inject-error"))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val resp = http.send(req, HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == 200) { "inject-error refused $body: ${resp.body()}" }
    }

    /** Replace the fault of [path] by one that never matches. */
    fun disarm(path: String) = inject(path, """{"delayMs":0,"count":1,"method":"NO-SUCH-METHOD"}""")

    /** An append over plain HTTP, by another writer. */
    fun httpAppend(path: String, body: String, contentType: String) {
        val req = HttpRequest.newBuilder(URI.create("$url$path"))
            .header("content-type", contentType)
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build()
        val status = http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode()
        check(status in 200..299) { "append answered $status" }
    }
}
