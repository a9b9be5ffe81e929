/**
 * Outgoing account mail (verification, password reset). The sandbox mailer is the embedded
 * default: it keeps every message in D1 (`emails`), where admins read it through
 * `GET /api/v1/admin/emails` — the local demo's inbox.
 */
import type { Db } from '../../db/client'
import { emails } from '../../db/schema'
import { newId } from '../../lib/ids'

export interface OutgoingMail {
  to: string
  subject: string
  text: string
  kind: 'verify_email' | 'password_reset' | 'account_notice'
  userId?: string
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<void>
}

export class SandboxMailer implements Mailer {
  constructor(private readonly db: Db) {}

  async send(mail: OutgoingMail): Promise<void> {
    await this.db.insert(emails).values({
      id: newId('eml'),
      userId: mail.userId ?? null,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
      kind: mail.kind,
      transport: 'sandbox',
    })
  }
}

export function createMailer(kind: 'sandbox', db: Db): Mailer {
  switch (kind) {
    case 'sandbox':
      return new SandboxMailer(db)
  }
}
