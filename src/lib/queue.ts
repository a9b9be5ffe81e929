/**
 * Sending many messages to a queue. A `sendBatch` call takes at most 100 messages and 256 KB in
 * total (Cloudflare Queues' limits; Miniflare refuses a batch over 288 kB), so bodies are grouped
 * under both: by count, and by their JSON size with room left for each message's envelope.
 */

/** Messages per `sendBatch` call. */
export const MAX_BATCH_MESSAGES = 100
/** Bytes of JSON bodies per `sendBatch` call: under the 256 KB limit, with room for the envelopes. */
export const MAX_BATCH_BYTES = 192 * 1024
/** What a message adds to its body's size, counted per message. */
const ENVELOPE_BYTES = 256

const encoder = new TextEncoder()

/** Groups bodies so that each group stays under the count and size of one `sendBatch`. */
export function batchesOf<T>(bodies: readonly T[], maxBytes = MAX_BATCH_BYTES): T[][] {
  const out: T[][] = []
  let cur: T[] = []
  let bytes = 0
  for (const body of bodies) {
    const size = encoder.encode(JSON.stringify(body)).length + ENVELOPE_BYTES
    if (cur.length && (cur.length === MAX_BATCH_MESSAGES || bytes + size > maxBytes)) {
      out.push(cur)
      cur = []
      bytes = 0
    }
    cur.push(body)
    bytes += size
  }
  if (cur.length) out.push(cur)
  return out
}

/** Sends every body, in as few `sendBatch` calls as the limits allow. */
export async function sendAll<T>(queue: Queue<T>, bodies: readonly T[]): Promise<void> {
  for (const group of batchesOf(bodies)) await queue.sendBatch(group.map((body) => ({ body })))
}
