// Bundled by scripts/openapi/write.mjs for Node: the app's OpenAPI document, built without a server or bindings.
import { createApp, OPENAPI_CONFIG } from '../../src/app'

export const openApiDocument = () => createApp().getOpenAPI31Document(OPENAPI_CONFIG)
