/**
 * Wallet — one per account, the source of truth for its money (docs/money-and-flows.md).
 *
 * Invariants (checked by `audit()` in tests):
 * - available = balance − Σ active holds ≥ 0 at every instant: debit and hold refuse what would
 *   break it, and a capture never takes more than its hold.
 * - Every balance change has exactly one ledger entry (credit +, debit −, capture −), and the
 *   ledger sums to the balance. Holds move no money; they reserve it.
 * - Every operation carries a caller-chosen id; a replay returns the first result and moves
 *   nothing. Ids are per kind of operation (`hold:X` and `capture:X` are two operations), so a
 *   caller may capture or void a hold with the hold's own id as the operation id. Refusals are not
 *   recorded: the same id may succeed later (after funding) — except a debit cancelled by
 *   `returnDebit` before it was made, which is refused for good (OPERATION_CANCELLED). Each
 *   operation's reads and writes are synchronous SQLite in one transaction, so two operations
 *   never interleave.
 * - `returnDebit` gives a debit back: a credit of exactly what the debit took, at most once per
 *   debit, and only if the debit was made. A flow that records "this debit is owed back" before
 *   knowing whether its debit went through (a lost reply, a Worker that died) can therefore make
 *   the return without knowing: never a credit for a debit that never happened, never a debit
 *   that lands after its return.
 * - A hold that reaches its expiry is settled by the alarm: captured when the flow that owns it
 *   recorded a `capture` outcome in D1 (`hold_outcomes` of this account, written in the same batch
 *   as the flow's result), otherwise voided. A purchase that crashed between "number assigned" and
 *   "capture" therefore ends captured — not free, not charged twice. When D1 cannot be read the
 *   hold stays active and the alarm comes back: never void blindly.
 * - Ledger entries are copied to D1 (`wallet_ledger`) idempotently by entry id, after the
 *   operation that wrote them and again by the alarm until every entry is copied. A copy after a
 *   quiet spell starts at once; while the wallet is busy, copies start at most every
 *   COPY_INTERVAL_MS and each takes every entry waiting (one D1 statement for up to COPY_BATCH
 *   entries, not one per operation). The ledger's order is the order of writing (SQLite rowid):
 *   entries written in one millisecond keep their order.
 * - The balance and the sum of active holds are read from SQLite once and then kept in memory as
 *   each operation writes them (`totals`); a transaction that throws drops them with its writes,
 *   and `audit()` says whether memory and storage agree. Only this object writes its storage.
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../../env'
import { newId } from '../../lib/ids'
import { chunk, IDS_PER_STATEMENT } from '../../db/chunk'
import { logger } from '../../lib/logger'

export type WalletFailure =
  | 'INSUFFICIENT_BALANCE'
  | 'INVALID_AMOUNT'
  | 'HOLD_NOT_FOUND'
  | 'HOLD_NOT_ACTIVE'
  | 'AMOUNT_EXCEEDS_HOLD'
  | 'INVALID_OPERATION_ID'
  /** A debit whose operation id was returned (`returnDebit`) before it was made: never made. */
  | 'OPERATION_CANCELLED'

export type WalletResult<T> = ({ ok: true; replayed: boolean } & T) | { ok: false; reason: WalletFailure; available?: number }

export interface Reference {
  type: string
  id: string
}

export interface LedgerEntry {
  id: string
  type: 'credit' | 'debit' | 'capture'
  /** Signed micro-units: + credit, − debit/capture. */
  amount: number
  balanceAfter: number
  opId: string
  holdId: string | null
  referenceType: string | null
  referenceId: string | null
  description: string | null
  createdAt: number
}

export interface Hold {
  id: string
  amount: number
  status: 'active' | 'captured' | 'voided'
  capturedAmount: number
  expiresAt: number
  referenceType: string | null
  referenceId: string | null
  description: string | null
  createdAt: number
  settledAt: number | null
}

/** A capture as `capture` takes it. */
export interface CaptureOp {
  opId: string
  holdId: string
  amount?: number
  description?: string
}

/** Whether an operation was made (a replay counts as made), and the refusal's reason when not. */
export type Settled = { opId: string; ok: true } | { opId: string; ok: false; reason: WalletFailure }

function settledOf(opId: string, r: WalletResult<unknown>): Settled {
  return r.ok ? { opId, ok: true } : { opId, ok: false, reason: r.reason }
}

export interface Balance {
  balance: number
  reserved: number
  available: number
  currency: 'USD'
}

const LEDGER_COPY_RETRY_MS = 30_000
/** Ledger entries per D1 statement when copying. */
const COPY_BATCH = 50
/** Copies a page of entries (a JSON array of [id, type, amount, …] rows) to D1; a repeated copy is ignored by id. */
const COPY_PAGE = `INSERT OR IGNORE INTO wallet_ledger (id, user_id, type, amount, balance_after, op_id, hold_id, reference_type, reference_id, description, created_at)
  SELECT value ->> 0, ?1, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, value ->> 9
  FROM json_each(?2)`
/** While operations keep coming, copies of the ledger to D1 start at most this often. */
export const COPY_INTERVAL_MS = 1_000

type OpKind = 'credit' | 'debit' | 'hold' | 'capture' | 'void' | 'return'

type Row = Record<string, SqlStorageValue>

export class Wallet extends DurableObject<Env> {
  private readonly sql: SqlStorage
  /** A copy to D1 is running. */
  private copying = false
  /** A copy is scheduled (copySoon); it takes every entry written until it runs. */
  private copyScheduled = false
  /** When the last copy started. */
  private lastCopyAt = 0
  /** The account this object was bound to, once read. */
  private boundTo: string | null = null
  /** An entry was written by the running operation (post). */
  private posted = false
  /**
   * The balance and the sum of active holds as this object last wrote them, so an operation does
   * not read them back from SQLite; null until first read, and again after a transaction rolled
   * back (txn). Only this object writes its storage, one operation at a time.
   */
  private totals: { balance: number; reserved: number } | null = null
  /** The alarm this object last set (scheduleAlarm); null when not known or it has fired. */
  private alarmAt: number | null = null

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    this.sql = ctx.storage.sql
    ctx.blockConcurrencyWhile(async () => {
      this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`)
      this.sql.exec(`CREATE TABLE IF NOT EXISTS ledger (
        id TEXT PRIMARY KEY, type TEXT NOT NULL, amount INTEGER NOT NULL, balance_after INTEGER NOT NULL,
        op_id TEXT NOT NULL, hold_id TEXT, reference_type TEXT, reference_id TEXT, description TEXT,
        created_at INTEGER NOT NULL, copied INTEGER NOT NULL DEFAULT 0)`)
      this.sql.exec(`CREATE INDEX IF NOT EXISTS ledger_uncopied ON ledger (copied)`)
      this.sql.exec(`CREATE TABLE IF NOT EXISTS holds (
        id TEXT PRIMARY KEY, amount INTEGER NOT NULL, status TEXT NOT NULL, captured_amount INTEGER NOT NULL DEFAULT 0,
        expires_at INTEGER NOT NULL, reference_type TEXT, reference_id TEXT, description TEXT,
        created_at INTEGER NOT NULL, settled_at INTEGER)`)
      this.sql.exec(`CREATE INDEX IF NOT EXISTS holds_active ON holds (status, expires_at)`)
      this.sql.exec(`CREATE TABLE IF NOT EXISTS ops (id TEXT PRIMARY KEY, result TEXT NOT NULL, created_at INTEGER NOT NULL)`)
    })
  }

  ping(): 'pong' {
    return 'pong'
  }

  // ---- operations -----------------------------------------------------------------------

  credit(account: string, op: { opId: string; amount: number; reference?: Reference; description?: string }): WalletResult<{ entry: LedgerEntry; balance: Balance }> {
    return this.once(account, 'credit', op.opId, () => {
      if (!validAmount(op.amount)) return { ok: false, reason: 'INVALID_AMOUNT' }
      const entry = this.post('credit', op.amount, op.opId, null, op.reference, op.description)
      return { ok: true, replayed: false, entry, balance: this.balanceNow() }
    })
  }

  debit(account: string, op: { opId: string; amount: number; reference?: Reference; description?: string }): WalletResult<{ entry: LedgerEntry; balance: Balance }> {
    return this.once(account, 'debit', op.opId, () => {
      if (!validAmount(op.amount)) return { ok: false, reason: 'INVALID_AMOUNT' }
      const available = this.balanceNow().available
      if (op.amount > available) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available }
      const entry = this.post('debit', -op.amount, op.opId, null, op.reference, op.description)
      return { ok: true, replayed: false, entry, balance: this.balanceNow() }
    })
  }

  /**
   * Gives back the debit `debitOpId`: a credit (ledger operation id `opId`) of what it took. Once
   * per debit: a second call, whatever its `opId`, replays the first. A debit not made (never
   * tried, or refused) is cancelled instead: nothing is credited (`entry: null`) and a later
   * debit with that id is refused with OPERATION_CANCELLED, so it cannot land after its return.
   */
  returnDebit(account: string, op: { opId: string; debitOpId: string; reference?: Reference; description?: string }): WalletResult<{ entry: LedgerEntry | null; balance: Balance }> {
    return this.once(account, 'return', op.debitOpId, () => {
      if (!validOpId(op.opId)) return { ok: false, reason: 'INVALID_OPERATION_ID' }
      const key = `debit:${op.debitOpId}`
      const prior = this.sql.exec(`SELECT result FROM ops WHERE id = ?`, key).toArray()[0]
      const debit = prior ? (JSON.parse(String(prior.result)) as WalletResult<{ entry: LedgerEntry }>) : null
      if (!debit) {
        // Recorded as a refusal: the debit's own replay answers it from now on.
        this.sql.exec(`INSERT INTO ops (id, result, created_at) VALUES (?, ?, ?)`, key, JSON.stringify({ ok: false, reason: 'OPERATION_CANCELLED' }), Date.now())
        return { ok: true, replayed: false, entry: null, balance: this.balanceNow() }
      }
      if (!debit.ok) return { ok: true, replayed: false, entry: null, balance: this.balanceNow() }
      const entry = this.post('credit', -debit.entry.amount, op.opId, null, op.reference, op.description)
      return { ok: true, replayed: false, entry, balance: this.balanceNow() }
    })
  }

  /** Reserves `amount` until `ttlMs` from now. The hold's id is the operation id. */
  hold(account: string, op: { opId: string; amount: number; ttlMs: number; reference?: Reference; description?: string }): WalletResult<{ hold: Hold; balance: Balance }> {
    return this.once(account, 'hold', op.opId, () => {
      if (!validAmount(op.amount) || !validAmount(op.ttlMs)) return { ok: false, reason: 'INVALID_AMOUNT' }
      const available = this.balanceNow().available
      if (op.amount > available) return { ok: false, reason: 'INSUFFICIENT_BALANCE', available }
      const now = Date.now()
      const hold: Hold = {
        id: op.opId,
        amount: op.amount,
        status: 'active',
        capturedAmount: 0,
        expiresAt: now + op.ttlMs,
        referenceType: op.reference?.type ?? null,
        referenceId: op.reference?.id ?? null,
        description: op.description ?? null,
        createdAt: now,
        settledAt: null,
      }
      this.sql.exec(
        `INSERT INTO holds (id, amount, status, expires_at, reference_type, reference_id, description, created_at) VALUES (?, ?, 'active', ?, ?, ?, ?, ?)`,
        hold.id,
        hold.amount,
        hold.expiresAt,
        hold.referenceType,
        hold.referenceId,
        hold.description,
        now,
      )
      this.loadTotals().reserved += hold.amount
      this.alarmBy(hold.expiresAt)
      return { ok: true, replayed: false, hold, balance: this.balanceNow() }
    })
  }

  /** Takes `amount` (default: all) of an active hold; the rest of the hold is released. */
  capture(account: string, op: { opId: string; holdId: string; amount?: number; description?: string }): WalletResult<{ entry: LedgerEntry | null; hold: Hold; balance: Balance }> {
    return this.once(account, 'capture', op.opId, () => this.settle(op.opId, op.holdId, op.amount, op.description))
  }

  /**
   * `capture` of each of `captures`, one operation each, in order: the deferred captures of earlier
   * purchases, sent together (WalletService.captureSoon). Only whether each was made comes back.
   */
  captureMany(account: string, captures: CaptureOp[]): Settled[] {
    return captures.map((c) => settledOf(c.opId, this.capture(account, c)))
  }

  /**
   * `hold`, after the `captures` it carries (as `captureMany`; WalletService.hold): the account's
   * deferred captures ride on its next hold instead of a call of their own. They are made first,
   * each its own operation, so a hold refused (say, for the balance) leaves them made.
   */
  holdCarrying(
    account: string,
    op: { opId: string; amount: number; ttlMs: number; reference?: Reference; description?: string },
    captures: CaptureOp[],
  ): { hold: WalletResult<{ hold: Hold; balance: Balance }>; captures: Settled[] } {
    const settled = this.captureMany(account, captures)
    return { hold: this.hold(account, op), captures: settled }
  }

  /** Releases an active hold; nothing is charged. */
  void(account: string, op: { opId: string; holdId: string }): WalletResult<{ hold: Hold; balance: Balance }> {
    return this.once(account, 'void', op.opId, () => {
      const hold = this.getHold(op.holdId)
      if (!hold) return { ok: false, reason: 'HOLD_NOT_FOUND' }
      if (hold.status !== 'active') return { ok: false, reason: 'HOLD_NOT_ACTIVE' }
      return { ok: true, replayed: false, hold: this.release(hold, Date.now()), balance: this.balanceNow() }
    })
  }

  // ---- reads ----------------------------------------------------------------------------

  balance(account: string): Balance {
    this.bind(account)
    return this.balanceNow()
  }

  history(account: string, page: number, limit: number): { entries: LedgerEntry[]; total: number } {
    this.bind(account)
    const total = Number(this.sql.exec(`SELECT COUNT(*) AS n FROM ledger`).one().n)
    const entries = this.sql
      .exec(`SELECT * FROM ledger ORDER BY rowid DESC LIMIT ? OFFSET ?`, limit, (page - 1) * limit)
      .toArray()
      .map(toEntry)
    return { entries, total }
  }

  getHoldById(holdId: string): Hold | null {
    return this.getHold(holdId)
  }

  /**
   * The invariants, for tests and operators, read from storage; `memoryAgrees`: the totals the
   * operations work from (`totals`) are the stored ones.
   */
  audit(): Balance & { ledgerSum: number; entries: number; activeHolds: number; negativeAvailable: boolean; memoryAgrees: boolean } {
    const memory = this.totals
    this.totals = null
    const b = this.balanceNow()
    const sums = this.sql.exec(`SELECT COALESCE(SUM(amount), 0) AS s, COUNT(*) AS n FROM ledger`).one()
    const active = Number(this.sql.exec(`SELECT COUNT(*) AS n FROM holds WHERE status = 'active'`).one().n)
    const memoryAgrees = memory === null || (memory.balance === b.balance && memory.reserved === b.reserved)
    return { ...b, ledgerSum: Number(sums.s), entries: Number(sums.n), activeHolds: active, negativeAvailable: b.available < 0, memoryAgrees }
  }

  // ---- expiry and the D1 copy -------------------------------------------------------------

  override async alarm(): Promise<void> {
    this.alarmAt = null
    const now = Date.now()
    const due = this.sql
      .exec(`SELECT id FROM holds WHERE status = 'active' AND expires_at <= ? ORDER BY expires_at`, now)
      .toArray()
      .map((r) => String(r.id))
    if (due.length) {
      const outcomes = await this.outcomesOf(due)
      if (outcomes) {
        for (const holdId of due) {
          const outcome = outcomes.get(holdId)
          this.txn(() => {
            const hold = this.getHold(holdId)
            if (hold?.status !== 'active') return
            if (outcome?.outcome === 'capture') {
              // Clamped to the hold, so a bad outcome row can neither overcharge nor leave the hold stuck.
              const take = Math.min(hold.amount, Math.max(0, Math.round(Number(outcome.amount) || 0)))
              this.settle(`expire_${holdId}`, holdId, take, 'Captured at hold expiry: the purchase completed')
            } else {
              this.release(hold, now)
            }
          })
        }
      }
    }
    await this.copyLedger()
    this.scheduleAlarm()
  }

  // ---- internals --------------------------------------------------------------------------

  /** Runs `fn` once per (kind, operation id), in one transaction; a replay returns the stored result. */
  private once<T extends { ok: boolean }>(account: string, kind: OpKind, opId: string, fn: () => T): T {
    this.bind(account)
    if (!validOpId(opId)) return { ok: false, reason: 'INVALID_OPERATION_ID' } as unknown as T
    const key = `${kind}:${opId}`
    this.posted = false
    const result = this.txn(() => {
      const prior = this.sql.exec(`SELECT result FROM ops WHERE id = ?`, key).toArray()[0]
      if (prior) return { ...(JSON.parse(String(prior.result)) as T), replayed: true }
      const r = fn()
      // Refusals are not recorded: a caller may retry the same id once the wallet can pay.
      if (r.ok) this.sql.exec(`INSERT INTO ops (id, result, created_at) VALUES (?, ?, ?)`, key, JSON.stringify(r), Date.now())
      return r
    })
    if (result.ok && this.posted) this.copySoon()
    return result
  }

  /** `fn` in one SQLite transaction; when it throws (rolled back), the cached totals are dropped with it. */
  private txn<T>(fn: () => T): T {
    try {
      return this.ctx.storage.transactionSync(fn)
    } catch (e) {
      this.totals = null
      throw e
    }
  }

  /** Voids the active `hold`: its amount is no longer reserved. */
  private release(hold: Hold, now: number): Hold {
    this.sql.exec(`UPDATE holds SET status = 'voided', settled_at = ? WHERE id = ?`, now, hold.id)
    this.loadTotals().reserved -= hold.amount
    return { ...hold, status: 'voided', settledAt: now }
  }

  private settle(opId: string, holdId: string, amount: number | undefined, description?: string): WalletResult<{ entry: LedgerEntry | null; hold: Hold; balance: Balance }> {
    const hold = this.getHold(holdId)
    if (!hold) return { ok: false, reason: 'HOLD_NOT_FOUND' }
    if (hold.status !== 'active') return { ok: false, reason: 'HOLD_NOT_ACTIVE' }
    const take = amount ?? hold.amount
    if (!Number.isInteger(take) || take < 0) return { ok: false, reason: 'INVALID_AMOUNT' }
    if (take > hold.amount) return { ok: false, reason: 'AMOUNT_EXCEEDS_HOLD' }
    const now = Date.now()
    this.sql.exec(`UPDATE holds SET status = 'captured', captured_amount = ?, settled_at = ? WHERE id = ?`, take, now, holdId)
    this.loadTotals().reserved -= hold.amount
    const reference = hold.referenceType && hold.referenceId ? { type: hold.referenceType, id: hold.referenceId } : undefined
    const entry = take > 0 ? this.post('capture', -take, opId, holdId, reference, description ?? hold.description ?? undefined) : null
    return { ok: true, replayed: false, entry, hold: { ...hold, status: 'captured', capturedAmount: take, settledAt: now }, balance: this.balanceNow() }
  }

  private post(type: LedgerEntry['type'], amount: number, opId: string, holdId: string | null, reference?: Reference, description?: string): LedgerEntry {
    const totals = this.loadTotals()
    const balanceAfter = totals.balance + amount
    this.posted = true
    const entry: LedgerEntry = {
      id: newId('txn'),
      type,
      amount,
      balanceAfter,
      opId,
      holdId,
      referenceType: reference?.type ?? null,
      referenceId: reference?.id ?? null,
      description: description ?? null,
      createdAt: Date.now(),
    }
    this.sql.exec(
      `INSERT INTO ledger (id, type, amount, balance_after, op_id, hold_id, reference_type, reference_id, description, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      entry.id,
      type,
      amount,
      balanceAfter,
      opId,
      holdId,
      entry.referenceType,
      entry.referenceId,
      entry.description,
      entry.createdAt,
    )
    this.sql.exec(`INSERT INTO meta (key, value) VALUES ('balance', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, String(balanceAfter))
    totals.balance = balanceAfter
    return entry
  }

  private bind(account: string): void {
    if (this.boundTo === null) {
      const known = this.sql.exec(`SELECT value FROM meta WHERE key = 'account'`).toArray()[0]
      if (!known) this.sql.exec(`INSERT INTO meta (key, value) VALUES ('account', ?)`, account)
      this.boundTo = known ? String(known.value) : account
    }
    if (this.boundTo !== account) throw new Error(`Wallet of ${this.boundTo} addressed as ${account}`)
  }

  private account(): string | null {
    if (this.boundTo !== null) return this.boundTo
    const row = this.sql.exec(`SELECT value FROM meta WHERE key = 'account'`).toArray()[0]
    return row ? String(row.value) : null
  }

  /** The balance and the active holds' sum: from memory once read (see `totals`). */
  private loadTotals(): { balance: number; reserved: number } {
    if (this.totals) return this.totals
    const row = this.sql.exec(`SELECT value FROM meta WHERE key = 'balance'`).toArray()[0]
    const reserved = Number(this.sql.exec(`SELECT COALESCE(SUM(amount), 0) AS s FROM holds WHERE status = 'active'`).one().s)
    this.totals = { balance: row ? Number(row.value) : 0, reserved }
    return this.totals
  }

  private balanceNow(): Balance {
    const { balance, reserved } = this.loadTotals()
    return { balance, reserved, available: balance - reserved, currency: 'USD' }
  }

  private getHold(id: string): Hold | null {
    const r = this.sql.exec(`SELECT * FROM holds WHERE id = ?`, id).toArray()[0]
    return r ? toHold(r) : null
  }

  /** The next hold expiry, or a retry in 30 s for entries still to copy or holds past due. */
  private scheduleAlarm(): void {
    const now = Date.now()
    const next = this.sql.exec(`SELECT MIN(expires_at) AS t FROM holds WHERE status = 'active'`).one().t
    const uncopied = this.uncopied()
    // An active hold already past due means its outcome could not be read: retry, don't spin.
    const holdAt = next === null ? null : Math.max(Number(next), Number(next) <= now ? now + LEDGER_COPY_RETRY_MS : 0)
    const candidates = [holdAt, uncopied ? now + LEDGER_COPY_RETRY_MS : null]
    const at = candidates.filter((t): t is number => t !== null).sort((a, b) => a - b)[0]
    if (at === undefined) return
    void this.ctx.storage.setAlarm(at)
    this.alarmAt = at
  }

  /**
   * An alarm comes by `at` (a new hold's expiry): one this object set for then or earlier is kept —
   * when it fires it settles what is due and sets the next (scheduleAlarm) — else it is set now.
   */
  private alarmBy(at: number): void {
    if (this.alarmAt !== null && this.alarmAt <= at) return
    this.scheduleAlarm()
  }

  /** The recorded outcomes of this account's holds, or null when D1 cannot be read right now. */
  private async outcomesOf(holdIds: string[]): Promise<Map<string, { outcome: string; amount: number }> | null> {
    const account = this.account()
    if (!account) return new Map()
    try {
      const out = new Map<string, { outcome: string; amount: number }>()
      for (const part of chunk(holdIds, IDS_PER_STATEMENT)) {
        const placeholders = part.map(() => '?').join(', ')
        const rows = await this.env.DB.prepare(`SELECT hold_id, outcome, amount FROM hold_outcomes WHERE user_id = ? AND hold_id IN (${placeholders})`)
          .bind(account, ...part)
          .all<{ hold_id: string; outcome: string; amount: number }>()
        for (const r of rows.results) out.set(r.hold_id, { outcome: r.outcome, amount: r.amount })
      }
      return out
    } catch (e) {
      logger.error('wallet: hold outcomes unreadable', { error: (e as Error).message })
      return null
    }
  }

  /**
   * Has the entries just written copied: at once when no copy started in the last
   * COPY_INTERVAL_MS, otherwise when that interval is over — one copy for every entry written
   * until then. Should the object be evicted before, the alarm copies them (LEDGER_COPY_RETRY_MS).
   */
  private copySoon(): void {
    if (this.copyScheduled) return
    this.copyScheduled = true
    const wait = Math.max(0, this.lastCopyAt + COPY_INTERVAL_MS - Date.now())
    if (wait > 0) this.scheduleAlarm()
    this.ctx.waitUntil(
      (wait > 0 ? scheduler.wait(wait) : Promise.resolve()).then(() => {
        this.copyScheduled = false
        return this.copyLedger()
      }),
    )
  }

  /**
   * Copies entries not yet in D1, batch after batch until none is left; INSERT OR IGNORE by entry
   * id makes a repeated copy harmless. One copy runs at a time: a call during a running copy
   * returns at once, and what was written meanwhile gets a copy of its own (copySoon) when the
   * running one ends.
   */
  private async copyLedger(): Promise<void> {
    const account = this.account()
    if (!account || this.copying) return
    this.copying = true
    this.lastCopyAt = Date.now()
    let failed = false
    try {
      for (;;) {
        const rows = this.sql.exec(`SELECT rowid AS row_id, * FROM ledger WHERE copied = 0 ORDER BY rowid LIMIT ?`, COPY_BATCH).toArray()
        if (!rows.length) return
        // One statement for the whole page: its rows travel as one JSON array (json_each), so a
        // page costs D1 one statement, not one per entry.
        await this.env.DB.prepare(COPY_PAGE)
          .bind(account, JSON.stringify(rows.map((r) => [r.id, r.type, r.amount, r.balance_after, r.op_id, r.hold_id, r.reference_type, r.reference_id, r.description, r.created_at])))
          .run()
        // The page is every uncopied entry up to its last rowid (entries are never deleted, so rowids only grow).
        this.sql.exec(`UPDATE ledger SET copied = 1 WHERE copied = 0 AND rowid <= ?`, rows[rows.length - 1].row_id)
        // A short page was the last one: entries written since wait for their own copy below.
        if (rows.length < COPY_BATCH) return
      }
    } catch (e) {
      failed = true
      logger.error('wallet: ledger copy failed; the alarm retries', { error: (e as Error).message })
      this.scheduleAlarm()
    } finally {
      this.copying = false
      if (!failed && this.uncopied()) this.copySoon()
    }
  }

  private uncopied(): boolean {
    return this.sql.exec(`SELECT 1 FROM ledger WHERE copied = 0 LIMIT 1`).toArray().length > 0
  }
}

function validOpId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= 255
}

function validAmount(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0
}

function toEntry(r: Row): LedgerEntry {
  return {
    id: String(r.id),
    type: r.type as LedgerEntry['type'],
    amount: Number(r.amount),
    balanceAfter: Number(r.balance_after),
    opId: String(r.op_id),
    holdId: r.hold_id === null ? null : String(r.hold_id),
    referenceType: r.reference_type === null ? null : String(r.reference_type),
    referenceId: r.reference_id === null ? null : String(r.reference_id),
    description: r.description === null ? null : String(r.description),
    createdAt: Number(r.created_at),
  }
}

function toHold(r: Row): Hold {
  return {
    id: String(r.id),
    amount: Number(r.amount),
    status: r.status as Hold['status'],
    capturedAmount: Number(r.captured_amount),
    expiresAt: Number(r.expires_at),
    referenceType: r.reference_type === null ? null : String(r.reference_type),
    referenceId: r.reference_id === null ? null : String(r.reference_id),
    description: r.description === null ? null : String(r.description),
    createdAt: Number(r.created_at),
    settledAt: r.settled_at === null ? null : Number(r.settled_at),
  }
}
