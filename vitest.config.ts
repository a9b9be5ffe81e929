import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'

// Tests run inside workerd with the bindings of wrangler.toml: D1, Durable Objects, Queues for real.
// Storage is isolated per test file; test/setup.ts applies the migrations in each.
export default defineConfig(async () => ({
  plugins: [
    cloudflareTest({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations('./migrations'),
          ENVIRONMENT: 'test',
          APP_URL: 'http://localhost:8787',
          JWT_SECRET: 'test-jwt-secret-0123456789abcdefghijklmnop',
          ENCRYPTION_KEY: 'test-encryption-key-0123456789abcdefghijkl',
          PROVIDER_WEBHOOK_SECRET: 'test-provider-webhook-secret-0123456789',
          // Pinned so a developer's .dev.vars (which wrangler also reads) cannot change the tests.
          CORS_ORIGINS: '',
          RATE_LIMITS: '',
          METRICS_TOKEN: '',
          // npm start writes `true` to .dev.vars; tests that need loopback webhooks set it themselves.
          WEBHOOK_ALLOW_LOOPBACK: '',
          MAX_ACTIVE_API_KEYS: '',
        },
      },
    }),
  ],
  test: {
    include: ['test/**/*.test.ts', 'packages/client/test/**/*.test.ts'],
    setupFiles: ['./test/setup.ts'],
    // Rate-limit tests may wait out the last seconds of a clock-aligned window.
    testTimeout: 20_000,
  },
}))
