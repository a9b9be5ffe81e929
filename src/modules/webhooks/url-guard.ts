/**
 * Which URLs a partner may point a webhook at. https only (plain http is allowed in local dev),
 * never an address inside a network: loopback, private, link-local, carrier-grade NAT, cloud
 * metadata, multicast, reserved — in any spelling. The WHATWG URL parser already turns decimal
 * (2130706433), hex (0x7f000001), octal (0177.0.0.1) and short (127.1) IPv4 forms into dotted
 * quads; IPv6 literals are checked here, including IPv4-mapped (::ffff:127.0.0.1), IPv4-compatible
 * and NAT64 forms. Deliveries do not follow redirects, so a public URL cannot bounce inward.
 *
 * Names are not resolved (Workers have no DNS API): a public name that resolves inward is the
 * remaining gap, narrowed by Cloudflare's own egress, which does not reach private networks.
 *
 * Loopback alone can be let through (`allowLoopback`, decided by the config: development or test
 * with WEBHOOK_ALLOW_LOOPBACK=true), so a developer can watch deliveries arrive on their own
 * machine. Loopback means 127.0.0.0/8 in any IPv4 spelling, ::1, ::ffff:127.0.0.0/104 (IPv4-mapped),
 * `localhost` and `*.localhost` (RFC 6761 reserves them for loopback); nothing else changes:
 * private, link-local, metadata, 0.0.0.0, NAT64/6to4/IPv4-compatible forms and hosts-file names
 * like `localhost.localdomain` stay refused.
 */
const BLOCKED_NAMES = /^(localhost|localhost\.localdomain|ip6-localhost|ip6-loopback|metadata|metadata\.google\.internal|instance-data)$|\.(localhost|local|internal|intranet|lan|home\.arpa)$/

/** [first address, prefix length] of IPv4 ranges that are not the public internet. */
const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
]

function v4ToInt(ip: string): number | null {
  const parts = ip.split('.')
  if (parts.length !== 4) return null
  let n = 0
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    n = n * 256 + Number(p)
  }
  return n
}

function v4Blocked(n: number): boolean {
  return V4_BLOCKED.some(([base, bits]) => {
    const b = v4ToInt(base)!
    const size = 2 ** (32 - bits)
    return n >= b && n < b + size
  })
}

/** 8 16-bit groups of an IPv6 literal (without brackets), or null. */
function v6Groups(ip: string): number[] | null {
  let s = ip.toLowerCase()
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone)
  // A trailing dotted IPv4 part becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)
  if (dotted) {
    const n = v4ToInt(dotted[1]!)
    if (n === null) return null
    s = `${s.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const parse = (part: string) => (part ? part.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)) : [])
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  const missing = 8 - head.length - tail.length
  if (halves.length === 1 && head.length !== 8) return null
  if (missing < 0) return null
  const groups = [...head, ...new Array(halves.length === 2 ? missing : 0).fill(0), ...tail]
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null
}

function v6Blocked(g: number[]): boolean {
  const embeddedV4 = ((g[6]! << 16) + g[7]!) >>> 0
  if (g.every((x) => x === 0)) return true // ::
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true // ::1
  if (g.slice(0, 5).every((x) => x === 0) && (g[5] === 0xffff || g[5] === 0)) return v4Blocked(embeddedV4) || g[5] === 0 // ::ffff:a.b.c.d, ::a.b.c.d
  if (g.slice(0, 4).every((x) => x === 0) && g[4] === 0xffff && g[5] === 0) return v4Blocked(embeddedV4) // ::ffff:0:a.b.c.d (IPv4-translated)
  if (g[0] === 0x64 && g[1] === 0xff9b) return v4Blocked(embeddedV4) // NAT64 64:ff9b::/96
  if (g[0] === 0x2002) return v4Blocked(((g[1]! << 16) + g[2]!) >>> 0) // 6to4 2002:a.b.c.d::/48
  if (g[0] === 0x2001 && g[1] === 0) return true // Teredo 2001::/32 (tunnels to an embedded IPv4)
  if (g[0] === 0x100 && g.slice(1, 4).every((x) => x === 0)) return true // discard-only 100::/64
  if ((g[0]! & 0xfe00) === 0xfc00) return true // fc00::/7 unique local
  if ((g[0]! & 0xffc0) === 0xfe80) return true // fe80::/10 link-local
  if ((g[0]! & 0xffc0) === 0xfec0) return true // fec0::/10 site-local (deprecated)
  if ((g[0]! & 0xff00) === 0xff00) return true // multicast
  if (g[0] === 0x2001 && g[1] === 0x0db8) return true // documentation
  return false
}

/** Whether a hostname (lower case, trailing dots removed) is this machine's loopback. */
function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true
  if (host.startsWith('[')) {
    const g = v6Groups(host.slice(1, -1))
    if (!g) return false
    if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true // ::1
    return g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff && g[6]! >> 8 === 127 // ::ffff:127.x.y.z
  }
  const v4 = v4ToInt(host)
  return v4 !== null && v4 >>> 24 === 127
}

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string }

/** What a URL may be: `allowHttp` (local dev and tests), `allowLoopback` (see the module comment). */
export interface UrlPolicy {
  allowHttp: boolean
  allowLoopback?: boolean
}

/** True when `raw` is a URL whose host is loopback (for an error message that says how to allow it). */
function isLoopbackUrl(raw: string): boolean {
  try {
    return isLoopbackHost(new URL(raw).hostname.toLowerCase().replace(/\.+$/, ''))
  } catch {
    return false
  }
}

/**
 * For a refused loopback URL in local dev: how to allow it. Empty elsewhere — production never
 * allows loopback, so its answers do not mention the setting.
 */
export function loopbackHint(raw: string, config: { isLocal: boolean; webhookUrls: UrlPolicy }): string {
  return config.isLocal && !config.webhookUrls.allowLoopback && isLoopbackUrl(raw) ? ' (a receiver on this machine is allowed in development with WEBHOOK_ALLOW_LOOPBACK=true)' : ''
}

export function checkWebhookUrl(raw: string, opts: UrlPolicy): UrlVerdict {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'not an absolute URL' }
  }
  if (url.protocol !== 'https:' && !(opts.allowHttp && url.protocol === 'http:')) {
    return { ok: false, reason: opts.allowHttp ? 'must be http(s)' : 'must use https' }
  }
  if (url.username || url.password) return { ok: false, reason: 'must not contain credentials' }
  const host = url.hostname.toLowerCase().replace(/\.+$/, '')
  if (!host) return { ok: false, reason: 'has no host' }
  if (opts.allowLoopback && isLoopbackHost(host)) return { ok: true, url }
  if (host.startsWith('[')) {
    const groups = v6Groups(host.slice(1, -1))
    if (!groups || v6Blocked(groups)) return { ok: false, reason: 'points at a private, loopback or reserved address' }
    return { ok: true, url }
  }
  const v4 = v4ToInt(host)
  if (v4 !== null) {
    return v4Blocked(v4) ? { ok: false, reason: 'points at a private, loopback or reserved address' } : { ok: true, url }
  }
  if (/^[\d.]+$/.test(host) || /^0x/i.test(host)) return { ok: false, reason: 'is not a valid address' }
  if (BLOCKED_NAMES.test(host) || !host.includes('.')) return { ok: false, reason: 'points at a local or internal name' }
  return { ok: true, url }
}
