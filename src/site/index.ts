import type { Logger } from 'pino';
import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { SyncService } from '../sync/sync-service.js';
import { ClientCertificates } from './certificates.js';
import { ClientAdminService } from './client-admin.js';
import { ContactRecorder } from './contacts.js';
import { DeploymentService } from './deployments.js';
import { GroupService } from './groups.js';
import { RegistrationService } from './registration.js';
import { ReportService } from './reports.js';
import { StateMessageService } from './state-messages.js';

/** The site services (issue 5), built once by the composition root (src/app.ts). */
export interface SiteServices {
  registration: RegistrationService;
  clients: ClientAdminService;
  groups: GroupService;
  deployments: DeploymentService;
  sync: SyncService;
  status: StateMessageService;
  reports: ReportService;
  certificates: ClientCertificates;
  contacts: ContactRecorder;
}

export function createSiteServices(deps: {
  db: Db;
  config: SiteConfig;
  log: Logger;
}): SiteServices {
  const certificates = new ClientCertificates(deps);
  return {
    registration: new RegistrationService({ ...deps, certificates }),
    clients: new ClientAdminService({ ...deps, certificates }),
    groups: new GroupService(deps),
    deployments: new DeploymentService(deps),
    sync: new SyncService(deps),
    status: new StateMessageService(deps),
    reports: new ReportService(deps),
    certificates,
    contacts: new ContactRecorder(deps),
  };
}
