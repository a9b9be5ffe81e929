/**
 * Schemas of the messaging API (seed 004): fields in camelCase as the document writes them;
 * instants ISO 8601. A document's bare object is `data`; lists also carry seed 004's
 * `pagination {limit, offset, total, hasMore}`.
 */
import { z } from '@hono/zod-openapi'
import { CONNECTOR_TYPES, MESSAGE_STATUSES } from '../../db/schema'
import { dateParam } from '../../lib/dates'
import { Instant, money } from '../../lib/http'

const Id = (example: string) => z.string().openapi({ example })

export const ConnectorType = z.enum(CONNECTOR_TYPES).openapi({ description: 'The channel: `whatsapp` (WhatsApp Cloud API), `telegram` (Bot API), `twilio` (SMS), `sandbox` (no account needed)' })
export const MessageStatus = z.enum(MESSAGE_STATUSES).openapi({ description: 'Only ever moves forward: `queued → sent → delivered | read | failed`' })

// ---- pagination (limit/offset) ------------------------------------------------------------------

export const OffsetQuery = {
  limit: z.coerce.number().int().min(1).max(100).default(50).openapi({ example: 50, description: 'Results per page (max 100)' }),
  offset: z.coerce.number().int().min(0).default(0).openapi({ example: 0, description: 'Results to skip' }),
}

export const OffsetPagination = z.object({ limit: z.number().int(), offset: z.number().int(), total: z.number().int(), hasMore: z.boolean() }).openapi('OffsetPagination')

export function offsetPagination(limit: number, offset: number, total: number): z.infer<typeof OffsetPagination> {
  return { limit, offset, total, hasMore: offset + limit < total }
}

// ---- params -------------------------------------------------------------------------------------

const param = (name: string, example: string, description: string) => z.string().openapi({ param: { name, in: 'path' }, example, description })
export const ProjectIdParam = z.object({ id: param('id', 'proj_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The project id') })
export const ProjectParam = z.object({ projectId: param('projectId', 'proj_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The project id') })
export const ProjectKeyParam = ProjectParam.extend({ keyId: param('keyId', 'key_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The project key id') })
export const ProjectItemParam = ProjectParam.extend({ id: param('id', 'conn_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The connector id (under `/connectors`) or the template id (under `/templates`)') })
/** A connector named by an upstream's callback (no project in the path). */
export const ConnectorIdParam = z.object({ id: param('id', 'conn_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The connector id') })
export const MessageIdParam = z.object({ id: param('id', 'msg_01jq6v6k2m9t8d0c2bq4x7y1z3', 'The message id') })

// ---- projects -----------------------------------------------------------------------------------

const Name = z.string().trim().min(1).max(100)
const Description = z.string().trim().max(500)

export const CreateProjectBody = z.object({ name: Name, description: Description.optional() }).strict().openapi('CreateProjectBody')
export const UpdateProjectBody = z.object({ name: Name.optional(), description: Description.nullable().optional(), isActive: z.boolean().optional() }).strict().openapi('UpdateProjectBody')

export const ProjectSummary = z
  .object({ id: Id('proj_01jq6v6k2m9t8d0c2bq4x7y1z3'), name: z.string(), description: z.string().nullable(), createdAt: Instant, isActive: z.boolean() })
  .openapi('ProjectSummary')
export const Project = ProjectSummary.extend({ userId: z.string(), updatedAt: Instant }).openapi('Project')
export const ProjectList = z.object({ projects: z.array(ProjectSummary) }).openapi('ProjectList')

// ---- project keys -------------------------------------------------------------------------------

export const CreateProjectKeyBody = z
  .object({
    name: Name,
    rateLimit: z.number().int().min(1).max(1_000_000).optional().openapi({ description: "Messages per hour this key may send (absent: the plan's hourly limit applies alone)" }),
    mode: z.enum(['live', 'test']).default('live').openapi({ description: '`pk_live_…` or `pk_test_…`' }),
  })
  .strict()
  .openapi('CreateProjectKeyBody')

export const ProjectKey = z
  .object({
    id: Id('key_01jq6v6k2m9t8d0c2bq4x7y1z3'),
    name: z.string(),
    prefix: z.string().openapi({ description: 'The first characters of the key, to recognise it' }),
    lastUsed: Instant.nullable(),
    rateLimit: z.number().int().nullable(),
    isActive: z.boolean(),
    createdAt: Instant,
  })
  .openapi('ProjectKey')
export const CreatedProjectKey = ProjectKey.extend({ key: z.string().openapi({ description: 'The key itself: shown only in this answer, stored hashed' }) }).openapi('CreatedProjectKey')
export const ProjectKeyList = z.object({ keys: z.array(ProjectKey) }).openapi('ProjectKeyList')

// ---- connectors ---------------------------------------------------------------------------------

const Pacing = z
  .object({
    perSecond: z.number().positive().max(1000).optional().openapi({ description: 'Messages per second over the connector' }),
    perRecipientMs: z.number().int().min(0).max(3_600_000).optional().openapi({ description: 'Minimum milliseconds between two messages to one recipient' }),
  })
  .strict()
  .openapi('ConnectorPacing')

export const CreateConnectorBody = z
  .object({
    type: z.string().openapi({ enum: [...CONNECTOR_TYPES], description: 'Unknown types are 400 `INVALID_CONNECTOR_TYPE`' }),
    name: Name,
    credentials: z
      .record(z.string(), z.unknown())
      .default({})
      .openapi({
        description:
          'Per type — whatsapp: `{phoneNumberId, accessToken, appSecret?, webhookVerifyToken?}`; telegram: `{botToken}`; twilio: `{accountSid, authToken, fromNumber}`; ' +
          'sandbox: `{failRecipients?, unavailableRecipients?, deliverAfterMs?}`. Stored encrypted; never returned.',
      }),
    settings: Pacing.optional(),
  })
  .strict()
  .openapi('CreateConnectorBody')

export const UpdateConnectorBody = z
  .object({ name: Name.optional(), isActive: z.boolean().optional(), credentials: z.record(z.string(), z.unknown()).optional(), settings: Pacing.optional() })
  .strict()
  .openapi('UpdateConnectorBody')

export const Connector = z
  .object({
    id: Id('conn_01jq6v6k2m9t8d0c2bq4x7y1z3'),
    projectId: z.string(),
    type: ConnectorType,
    name: z.string(),
    isActive: z.boolean(),
    credentialsHint: z.string().nullable().openapi({ description: 'The last 4 characters of the main secret; the credentials themselves are never returned' }),
    settings: z.object({ perSecond: z.number(), perRecipientMs: z.number() }).openapi({ description: 'The pacing in force (the type defaults unless set)' }),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('Connector')
export const ConnectorList = z.object({ connectors: z.array(Connector) }).openapi('ConnectorList')
export const ConnectorTest = z.object({ success: z.boolean(), connected: z.boolean(), message: z.string() }).openapi('ConnectorTest')

// ---- templates ----------------------------------------------------------------------------------

const Variables = z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a variable name: letters, digits, _')).max(50)

export const CreateTemplateBody = z
  .object({
    name: Name,
    connectorType: ConnectorType,
    content: z.string().min(1).max(4096).openapi({ description: 'The text with `{{name}}` placeholders' }),
    variables: Variables.openapi({ description: "The placeholders' names: must equal those in `content`" }),
  })
  .strict()
  .openapi('CreateTemplateBody')

export const UpdateTemplateBody = z
  .object({ name: Name.optional(), content: z.string().min(1).max(4096).optional(), variables: Variables.optional(), isActive: z.boolean().optional() })
  .strict()
  .openapi('UpdateTemplateBody')

export const Template = z
  .object({
    id: Id('tpl_01jq6v6k2m9t8d0c2bq4x7y1z3'),
    projectId: z.string(),
    name: z.string(),
    connectorType: ConnectorType,
    content: z.string(),
    variables: z.array(z.string()),
    isActive: z.boolean(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .openapi('Template')
export const TemplateList = z.object({ templates: z.array(Template) }).openapi('TemplateList')

// ---- messages -----------------------------------------------------------------------------------

export const SendMessageBody = z
  .object({
    to: z.string().min(1).max(64).openapi({ example: '+14155550123', description: 'E.164 for WhatsApp, Twilio and the sandbox; a chat id (or `@channel`) for Telegram' }),
    connectorId: z.string().min(1),
    templateId: z.string().min(1),
    variables: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict()
  .openapi('SendMessageBody')

export const SendMessageResult = z.object({ messageId: z.string(), status: z.literal('queued') }).openapi('SendMessageResult')

export const MessageSummary = z
  .object({
    id: Id('msg_01jq6v6k2m9t8d0c2bq4x7y1z3'),
    to: z.string(),
    text: z.string(),
    status: MessageStatus,
    connectorType: ConnectorType,
    sentAt: Instant.nullable(),
    createdAt: Instant,
  })
  .openapi('MessageSummary')

export const Message = MessageSummary.extend({
  projectId: z.string(),
  connectorId: z.string(),
  templateId: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).openapi({ description: "The upstream's id (`messageId`) and what it told about the message" }),
  price: z.number().openapi(money({ description: 'Held at send, taken when the connector accepted; 0 when it failed' })),
  deliveredAt: Instant.nullable(),
  readAt: Instant.nullable(),
  failedAt: Instant.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  updatedAt: Instant,
}).openapi('Message')

export const ListMessagesQuery = z.object({
  projectId: z.string().optional().openapi({ description: "The project (required with a user session or account key; a project key reads its own project's)" }),
  ...OffsetQuery,
  status: z
    .enum(['pending', ...MESSAGE_STATUSES])
    .optional()
    .openapi({ description: '`pending` is `queued`' }),
  connector: ConnectorType.optional().openapi({ description: 'The connector type' }),
  from: dateParam('Created at or after (ISO 8601; a date means its first instant)').optional(),
  to: dateParam('Created at or before (ISO 8601; a date means its whole day)', '2026-11-30').optional(),
})

export const MessageList = z.object({ messages: z.array(MessageSummary), pagination: OffsetPagination }).openapi('MessageList')
