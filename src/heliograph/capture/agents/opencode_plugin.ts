// Heliograph for OpenCode: hands every OpenCode bus event to Heliograph, which exports the
// session to Helicone (or to its local receiver). Written by `heliograph opencode install`.
//
// Each event is appended as one JSON line to a file of its own in Heliograph's inbox, and
// `heliograph opencode ingest --follow` (started here, detached, once per machine) turns the
// lines into Helicone logs. An append to a local file takes microseconds, needs no server
// and loses nothing if Heliograph is down. This plugin never writes to the terminal, never
// waits on the network and never throws into OpenCode: every failure is swallowed.
// Streaming deltas are skipped (the final part update carries the whole text).
import { appendFileSync, mkdirSync } from "node:fs"
import { spawn } from "node:child_process"
import { join } from "node:path"

const INBOX: string = "__HELIOGRAPH_INBOX__"
const INGEST: string[] = __HELIOGRAPH_INGEST__

const SKIPPED = new Set(["message.part.delta", "server.heartbeat"])

export const HeliographPlugin = async () => {
  let file: string | undefined
  try {
    mkdirSync(INBOX, { recursive: true, mode: 0o700 })
    file = join(INBOX, `opencode-${process.pid}.jsonl`)
    if (INGEST.length > 0) {
      const child = spawn(INGEST[0], INGEST.slice(1), { detached: true, stdio: "ignore" })
      child.on("error", () => {})
      child.unref()
    }
  } catch {
    // telemetry must never affect OpenCode
  }
  return {
    event: async ({ event }: { event: { type?: string } }) => {
      try {
        if (file === undefined || SKIPPED.has(event?.type ?? "")) return
        appendFileSync(file, JSON.stringify(event) + "\n", { mode: 0o600 })
      } catch {
        // telemetry must never affect OpenCode
      }
    },
  }
}
