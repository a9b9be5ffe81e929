import type { Router } from '../../http/router'
import { registerConnectorStatusCallback } from './connector-status-callback'
import { registerCreateConnector } from './create-connector'
import { registerCreateProject } from './create-project'
import { registerCreateProjectKey } from './create-project-key'
import { registerCreateTemplate } from './create-template'
import { registerDeleteConnector } from './delete-connector'
import { registerDeleteProject } from './delete-project'
import { registerDeleteProjectKey } from './delete-project-key'
import { registerDeleteTemplate } from './delete-template'
import { registerGetConnector } from './get-connector'
import { registerGetMessage } from './get-message'
import { registerGetProject } from './get-project'
import { registerGetTemplate } from './get-template'
import { registerListConnectors } from './list-connectors'
import { registerListMessages } from './list-messages'
import { registerListProjectKeys } from './list-project-keys'
import { registerListProjects } from './list-projects'
import { registerListTemplates } from './list-templates'
import { registerSendMessage } from './send-message'
import { registerTestConnector } from './test-connector'
import { registerUpdateConnector } from './update-connector'
import { registerUpdateProject } from './update-project'
import { registerUpdateTemplate } from './update-template'
import { registerVerifyConnectorWebhook } from './verify-connector-webhook'

/** The messaging API (seed 004): projects, their keys, connectors and templates, and messages. */
export function registerMessaging(r: Router) {
  registerListProjects(r)
  registerCreateProject(r)
  registerGetProject(r)
  registerUpdateProject(r)
  registerDeleteProject(r)
  registerListProjectKeys(r)
  registerCreateProjectKey(r)
  registerDeleteProjectKey(r)
  registerListConnectors(r)
  registerCreateConnector(r)
  registerGetConnector(r)
  registerUpdateConnector(r)
  registerDeleteConnector(r)
  registerTestConnector(r)
  registerListTemplates(r)
  registerCreateTemplate(r)
  registerGetTemplate(r)
  registerUpdateTemplate(r)
  registerDeleteTemplate(r)
  registerSendMessage(r)
  registerListMessages(r)
  registerGetMessage(r)
  registerConnectorStatusCallback(r)
  registerVerifyConnectorWebhook(r)
}
