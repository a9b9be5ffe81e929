// Bundled by scripts/openapi/write.mjs for Node: the app's OpenAPI document, built without a server or bindings.
import { createApp, openApiDocument as documentOf } from '../../src/app'

export const openApiDocument = () => documentOf(createApp())
