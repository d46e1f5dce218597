package dev.durablestreams.sdk

import dev.durablestreams.sdk.ffi.FfiException

/** Every call into the native layer: its error becomes the table's exception class. */
internal inline fun <T> native(block: () -> T): T =
    try {
        block()
    } catch (e: FfiException.Failure) {
        throw DurableStreamException.from(e.details)
    }
