// `cloudflare:workers` exists only inside workerd. Writing the OpenAPI document never constructs a Durable Object,
// so the classes that extend this one only need it to exist.
export class DurableObject {
  constructor(ctx, env) {
    this.ctx = ctx
    this.env = env
  }
}
