import type { Env } from '../../env'

/** NumberLock objects by E.164 number. */
export class NumberLockService {
  constructor(private readonly ns: Env['NUMBER_LOCK']) {}

  of(phoneNumber: string) {
    return this.ns.get(this.ns.idFromName(phoneNumber))
  }
}
