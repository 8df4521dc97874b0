import type { Logger } from 'pino';
import type { SiteConfig } from '../config/schema.js';
import type { Db } from '../storage/db.js';
import { ChangeWatcher } from '../storage/changes.js';
import { SyncFastPath } from '../sync/fast-path.js';
import { SyncService } from '../sync/sync-service.js';
import { ClientCertificates } from './certificates.js';
import { ClientAdminService } from './client-admin.js';
import { ContactRecorder, MAX_CONTACTS_PER_INTERVAL } from './contacts.js';
import { DeploymentService } from './deployments.js';
import { GroupService } from './groups.js';
import { RegistrationService } from './registration.js';
import { ReportService } from './reports.js';
import { StateMessageService } from './state-messages.js';
import { TokenService } from './tokens.js';
import { AuditService } from './audit.js';
import { PromotionService } from './promote.js';
import { SessionService } from './sessions.js';
import { UserService } from './users.js';
import { RolloutService } from './rollouts.js';
import { MaintenanceWindowService } from './maintenance-window-store.js';

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
  /** What this process knows of the latest change (polled while serving: storage/changes.ts). */
  changes: ChangeWatcher;
  /** Nothing-new syncs answered from memory (sync/fast-path.ts). */
  syncFast: SyncFastPath;
  /** API tokens of issue 7 (release pipelines, admins). */
  tokens: TokenService;
  audit: AuditService;
  promotions: PromotionService;
  /** People's accounts and their login sessions (issue 14 item 4). */
  users: UserService;
  sessions: SessionService;
  /** Rollouts through rings and the groups' maintenance windows (issue 14 item 6). */
  rollouts: RolloutService;
  maintenanceWindows: MaintenanceWindowService;
}

export function createSiteServices(deps: {
  db: Db;
  config: SiteConfig;
  log: Logger;
}): SiteServices {
  const certificates = new ClientCertificates(deps);
  const deployments = new DeploymentService(deps);
  const sync = new SyncService(deps);
  // The write cap is the node's: its worker processes share it (server.workers).
  const contacts = new ContactRecorder(deps, {
    maxPerInterval: Math.ceil(MAX_CONTACTS_PER_INTERVAL / deps.config.server.workers),
  });
  const changes = new ChangeWatcher(deps, deps.config.server.changePollMs);
  const users = new UserService(deps);
  const syncFast = new SyncFastPath(
    { changes, sync, contacts, config: deps.config },
    deps.config.server.syncCacheClients,
  );
  return {
    registration: new RegistrationService({ ...deps, certificates }),
    clients: new ClientAdminService({ ...deps, certificates }),
    groups: new GroupService(deps),
    deployments,
    sync,
    status: new StateMessageService(deps),
    reports: new ReportService(deps),
    certificates,
    contacts,
    changes,
    syncFast,
    tokens: new TokenService(deps),
    audit: new AuditService(deps),
    promotions: new PromotionService({ ...deps, deployments }),
    users,
    sessions: new SessionService({ ...deps, users }),
    rollouts: new RolloutService({ ...deps, deployments }),
    maintenanceWindows: new MaintenanceWindowService(deps),
  };
}
