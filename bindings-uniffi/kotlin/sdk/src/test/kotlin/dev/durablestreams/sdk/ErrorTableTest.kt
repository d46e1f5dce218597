package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.ErrorDetails
import dev.durablestreams.sdk.ffi.errorTableJson
import org.json.JSONArray
import org.junit.jupiter.api.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** The Kotlin exception classes are the core's error table: names, parents, details, codes. */
class ErrorTableTest {
    private val rows = JSONArray(errorTableJson()).let { a -> (0 until a.length()).map { a.getJSONObject(it) } }

    private fun kotlinName(stem: String) = "dev.durablestreams.sdk.${stem}Exception"

    private fun property(detail: String) = if (detail == "cause") "networkCause" else
        detail.split('_').mapIndexed { i, w -> if (i == 0) w else w.replaceFirstChar(Char::uppercase) }.joinToString("")

    private fun details(code: String) = ErrorDetails(
        code, "", "", "m", null, false, null, null, null, null, null, null, null, null, null,
    )

    @Test
    fun `every table row is a class with the row's parent and details`() {
        for (row in rows) {
            val cls = Class.forName(kotlinName(row.getString("name")))
            if (!row.isNull("parent")) {
                assertEquals(kotlinName(row.getString("parent")), cls.superclass.name, "parent of ${cls.simpleName}")
            }
            val details = row.getJSONArray("details")
            for (i in 0 until details.length()) {
                val getter = "get" + property(details.getString(i)).replaceFirstChar(Char::uppercase)
                assertTrue(cls.methods.any { it.name == getter }, "${cls.simpleName} lacks ${details.getString(i)}")
            }
            val code = row.getString("code")
            if (code.isNotEmpty()) {
                assertEquals(cls, DurableStreamException.from(details(code)).javaClass, "class for code $code")
            }
        }
    }

    @Test
    fun `no exception class exists outside the table`() {
        val names = rows.map { "${it.getString("name")}Exception" }.toSet()
        val declared = DurableStreamException::class.java.let { root ->
            java.io.File(java.io.File(root.protectionDomain.codeSource.location.toURI()), "dev/durablestreams/sdk")
                .listFiles()!!.map { it.name.removeSuffix(".class") }
                .filter { it.endsWith("Exception") && !it.contains('$') }
                .filter { root.isAssignableFrom(Class.forName("dev.durablestreams.sdk.$it")) }
        }
        assertEquals(names, declared.toSet())
    }
}
