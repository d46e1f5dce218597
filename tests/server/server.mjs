// Reusable in-process launcher for the Durable Streams reference server
// (`DurableStreamTestServer` from @durable-streams/server 0.3.7).
//
//   const { url, stop } = await startServer({ longPollTimeout: 500 })
//   ... talk to `url` (e.g. http://127.0.0.1:41234) ...
//   await stop()
//
// Storage is in memory; every other option keeps the package default
// (compression on, default cursor settings, webhooks off), which is how the
// upstream conformance runner starts it.
import { DurableStreamTestServer } from "@durable-streams/server"

/**
 * @param {{ port?: number, host?: string, longPollTimeout?: number }} [options]
 *   port 0 (default) lets the OS pick a free port; longPollTimeout is in ms.
 * @returns {Promise<{ url: string, stop: () => Promise<void>, server: DurableStreamTestServer }>}
 */
export async function startServer({ port = 0, host = "127.0.0.1", longPollTimeout = 500 } = {}) {
  const server = new DurableStreamTestServer({ port, host, longPollTimeout })
  const url = await server.start()
  const httpServer = server.server // node:http Server, needed to force-close sockets
  let stopping = null

  /** Stops the server; connections still open after `graceMs` are destroyed. */
  function stop({ graceMs = 2000 } = {}) {
    if (!stopping) {
      stopping = (async () => {
        const force = setTimeout(() => httpServer?.closeAllConnections?.(), graceMs)
        try {
          await server.stop()
        } finally {
          clearTimeout(force)
        }
      })()
    }
    return stopping
  }

  return { url, stop, server }
}
