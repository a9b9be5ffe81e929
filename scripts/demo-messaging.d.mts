// Types of scripts/demo-messaging.mjs, for the test that imports it.
type Made<T> = { row: T; created: boolean }
export interface DemoMessaging {
  project: Made<{ id: string; name: string }>
  connector: Made<{ id: string; name: string; type: string; isActive: boolean }>
  template: Made<{ id: string; name: string; content: string; isActive: boolean }>
  key: string
  keyId: string
  revokedKeys: number
  available: number
  funded: { amount: number; available: number } | null
}
export declare const DEMO_PROJECT: { name: string; description: string }
export declare const DEMO_CONNECTOR: { type: string; name: string; credentials: Record<string, unknown> }
export declare const DEMO_TEMPLATE: { name: string; connectorType: string; content: string; variables: string[] }
export declare const DEMO_PROJECT_KEY: string
export declare const FUND_BELOW: number
export declare const FUND_AMOUNT: number
export declare function setUpDemoMessaging(opts: { base: string; token: string; fetch?: (input: string, init?: RequestInit) => Promise<Response> }): Promise<DemoMessaging>
export declare function describeDemoMessaging(r: DemoMessaging, email: string): string
