import { describe, expect, it } from 'vitest'
import { call, registerUser } from './helpers/api'

describe('smoke', () => {
  it('health answers in the envelope', async () => {
    const res = await call('/health')
    expect(res.status, res.text).toBe(200)
    expect(res.body.data.status).toBe('healthy')
  })
  it('registers and reads /me', async () => {
    const u = await registerUser()
    const me = await call('/api/v1/auth/me', { token: u.accessToken })
    expect(me.status, me.text).toBe(200)
    expect(me.body.data.email).toBe(u.email)
  })
})
