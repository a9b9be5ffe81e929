import { defineConfig } from 'drizzle-kit'

// drizzle-kit writes the SQL migrations from src/db/schema.ts: `npm run db:generate`.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './migrations',
})
