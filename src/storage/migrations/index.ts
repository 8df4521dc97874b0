import type { Knex } from 'knex';
import * as m001 from './001-initial.js';
import * as m002 from './002-revision-documents.js';
import * as m003 from './003-site.js';
import * as m004 from './004-certificates.js';
import * as m005 from './005-idempotency.js';
import * as m007 from './007-change-counters.js';
import * as m008 from './008-audit-token.js';
import * as m009 from './009-token-name-unique.js';
import * as m010 from './010-vendor-packages.js';
import * as m011 from './011-wusp.js';
import * as m012 from './012-maintenance.js';
import * as m013 from './013-users.js';
import * as m014 from './014-declined.js';
import * as m016 from './016-client-admin-indexes.js';
import * as m017 from './017-rollouts.js';
import * as m018 from './018-tuf-metadata.js';
import * as m019 from './019-site-keys.js';
import * as m020 from './020-contact-hot-updates.js';

interface Migration {
  up(db: Knex): Promise<void>;
  down(db: Knex): Promise<void>;
}

/** Migrations are compiled into the program (not loaded from a folder) so that they run the same from src/ and dist/. */
const migrations: ReadonlyArray<[string, Migration]> = [
  ['001-initial', m001],
  ['002-revision-documents', m002],
  ['003-site', m003],
  ['004-certificates', m004],
  ['005-idempotency', m005],
  ['007-change-counters', m007],
  ['008-audit-token', m008],
  ['009-token-name-unique', m009],
  ['010-vendor-packages', m010],
  ['011-wusp', m011],
  ['012-maintenance', m012],
  ['013-users', m013],
  ['014-declined', m014],
  ['016-client-admin-indexes', m016],
  ['017-rollouts', m017],
  ['018-tuf-metadata', m018],
  ['019-site-keys', m019],
  ['020-contact-hot-updates', m020],
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations.map(([, m]) => m),
  getMigrationName: (m) => migrations.find(([, x]) => x === m)?.[0] ?? 'unknown',
  getMigration: async (m) => m,
};
