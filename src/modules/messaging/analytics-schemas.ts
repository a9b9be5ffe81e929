/** Schemas of the messaging analytics (seed 004 "Analytics"): fields in camelCase as the document writes them. */
import { z } from '@hono/zod-openapi'
import { dateParam } from '../../lib/dates'
import { ConnectorType } from './schemas'

const ProjectFilter = z.string().min(1).optional().openapi({ example: 'proj_01jq6v6k2m9t8d0c2bq4x7y1z3', description: "Only this project (one of the caller's, not deleted)" })
const Rate = z.number().min(0).max(1).openapi({ example: 0.944, description: 'delivered / sent, 3 decimals; 0 when nothing was sent' })

export const MessageAnalyticsQuery = z.object({
  projectId: ProjectFilter,
  from: dateParam('Start of the period (included); default 30 days before its end.', '2026-01-01').optional(),
  to: dateParam('End of the period (included: a date covers its whole day); default now.', '2026-01-31').optional(),
})

export const UsageAnalyticsQuery = z.object({ projectId: ProjectFilter })

export const MessageCounts = z
  .object({
    sent: z.number().int().openapi({ example: 800 }),
    delivered: z.number().int().openapi({ example: 780 }),
    failed: z.number().int().openapi({ example: 20 }),
  })
  .openapi('MessageCounts')

export const MessageAnalytics = z
  .object({
    period: z.object({
      from: z.string().openapi({ format: 'date-time', example: '2026-01-01T00:00:00.000Z' }),
      to: z.string().openapi({ format: 'date-time', example: '2026-01-31T23:59:59.999Z', description: 'The last instant of the period' }),
    }),
    totals: MessageCounts.extend({ deliveredRate: Rate }),
    byConnector: z.partialRecord(ConnectorType, MessageCounts).openapi({ description: 'Per connector type; only the types with messages in the period' }),
    byDay: z.array(MessageCounts.extend({ date: z.string().openapi({ example: '2026-01-15', description: 'A UTC day' }) })).openapi({ description: 'Days with messages, ascending' }),
  })
  .openapi('MessageAnalytics')

export const UsageAnalytics = z
  .object({
    totalMessages: z.number().int().openapi({ example: 1250 }),
    totalProjects: z.number().int().openapi({ example: 5 }),
    totalConnectors: z.number().int().openapi({ example: 12 }),
    averageDeliveryRate: Rate,
    topConnectors: z.array(z.object({ type: ConnectorType, messages: z.number().int().openapi({ example: 800 }) })).openapi({ description: 'Connector types by messages, most first' }),
  })
  .openapi('UsageAnalytics')
