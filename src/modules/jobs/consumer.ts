/**
 * The shapes of queue consumers and job handlers: what queue.ts dispatches to. Kept apart from
 * queue.ts so the consumers it registers do not import the file that imports them.
 */
import type { Services } from '../../services'

/** A queue's consumer: handles one batch with the invocation's services. */
export type Consumer = (batch: MessageBatch<unknown>, services: Services) => Promise<void>

/** A handler of one `type` of message on the `jobs` queue: resolves when done, throws to be retried. */
export type JobHandler = (body: unknown, services: Services) => Promise<void>
