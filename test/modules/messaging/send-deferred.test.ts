/**
 * A send's enqueue runs after its 202 (ARCHITECTURE.md, "The purchase's request path"): a Worker
 * that dies in between leaves the message `queued` with its price held, and the sweeper's
 * `requeueStale` puts it on the queue — nothing lost, nothing charged before it is sent.
 */
import { createExecutionContext, env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { Env } from '../../../src/env'
import { MessagesService, type MessagesQueueBody } from '../../../src/modules/messaging/messages.service'
import { createServices } from '../../../src/services'
import { registerUser } from '../../helpers/api'
import { fund, walletAudit } from '../../helpers/catalog'
import { ctxFor } from '../../helpers/context'
import { messageRow, messagingSetup, sendBody } from '../../helpers/messaging'

describe('a send whose Worker dies between its 202 and the enqueue', () => {
  it('leaves the message queued with its price held; the sweeper enqueues it once it is a minute old', async () => {
    const u = await registerUser()
    await fund(u.id, 1)
    const s = await messagingSetup(u)
    const services = createServices(env as unknown as Env, createExecutionContext())
    const sent: MessagesQueueBody[] = []
    const queue = {
      send: async (body: MessagesQueueBody) => void sent.push(body),
      sendBatch: async (m: Iterable<MessageSendRequest<MessagesQueueBody>>) => void sent.push(...[...m].map((x) => x.body)),
    }
    const lost: (() => Promise<unknown>)[] = []
    let now = Date.now()
    const svc = new MessagesService({
      db: services.db,
      projects: services.projects,
      wallet: services.wallet,
      rateLimiter: services.rateLimiter,
      queue: queue as unknown as Queue<MessagesQueueBody>,
      afterAnswer: (task) => lost.push(task),
      now: () => now,
    })
    const principal = { userId: u.id, email: 'x@example.com', role: 'user' as const, via: 'jwt' as const, permissions: ['*'], plan: null }

    const m = await svc.send(principal, ctxFor(u.id), sendBody(s))
    expect(m.status).toBe('queued')
    expect(lost).toHaveLength(1)
    expect(sent).toEqual([])
    expect(await messageRow(m.id)).toMatchObject({ status: 'queued', attempts: 0 })
    expect(await walletAudit(u.id)).toMatchObject({ balance: 1_000_000, reserved: m.price, activeHolds: 1 })

    // Within the minute the sweeper leaves it alone (a request may still be enqueuing it); after it, it sends it.
    expect(await svc.requeueStale()).toBe(0)
    now += 61_000
    expect(await svc.requeueStale()).toBe(1)
    expect(sent).toEqual([{ kind: 'send', messageId: m.id }])
  })
})
