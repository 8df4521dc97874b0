/**
 * Windows computers as upcat clients (issue 12 item 3). RegisterComputer goes through the site's
 * RegistrationService like an agent's registration: the hardware ID is derived from the
 * SusClientId and the stable ComputerInfo attributes (manufacturer, model), the TargetGroup the
 * computer named in GetAuthorizationCookie is its group hint (client-side targeting), and
 * approval, blocking and duplicate-identity handling are the site's. What only a WUA has
 * (SusClientId, the rest of ComputerInfo) goes in `wusp_computers`; the client secret the
 * registration issued is kept there sealed, so a later RegisterComputer refreshes the same
 * record rather than looking like a new machine.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { isUpcatError } from '../../errors.js';
import { catalogVersionColumn, normalizeClient, type ClientRow } from '../../site/client-repo.js';
import type { RegistrationService } from '../../site/registration.js';
import { now } from '../../storage/catalog-repo.js';
import type { Db } from '../../storage/db.js';
import { decodeBase64Strict } from '../../strict-base64.js';
import type { ComputerInfo } from './contract.js';
import { WuspFault } from './soap.js';

export interface Computer {
  susClientId: string;
  client: ClientRow;
  targetGroup: string | null;
  /** The client's named groups, as sorted IDs joined by commas (read in the same statement). */
  groupIds: string;
}

/** `(the client's group IDs, sorted, comma-separated) as wusp_group_ids`, to add to a select. */
function groupIdsColumn(db: Db): Knex.Raw {
  if ((db.client.config.client as string) === 'pg') {
    return db.raw(
      "(select string_agg(g.group_id::text, ',' order by g.group_id) from client_groups g where g.client_id = c.client_id) as wusp_group_ids",
    );
  }
  return db.raw(
    "(select group_concat(group_id, ',') from (select g.group_id from client_groups g where g.client_id = c.client_id order by g.group_id)) as wusp_group_ids",
  );
}

type ComputerRow = Record<string, unknown> & {
  wusp_sus_client_id: string;
  wusp_target_group: string | null;
  wusp_group_ids: unknown;
};

function computerOf(row: ComputerRow): Computer {
  const {
    wusp_sus_client_id: susClientId,
    wusp_target_group: targetGroup,
    wusp_group_ids: groups,
    ...client
  } = row;
  return {
    susClientId,
    client: normalizeClient(client),
    targetGroup,
    groupIds: typeof groups === 'string' ? groups : '',
  };
}

/** The hardware ID of a Windows computer: stable across renames, BIOS updates and OS upgrades. */
export function hardwareIdOf(
  susClientId: string,
  info: Pick<ComputerInfo, 'manufacturer' | 'model'>,
): string {
  const digest = createHash('sha256')
    .update(`${susClientId.toLowerCase()}\n${info.manufacturer ?? ''}\n${info.model ?? ''}`)
    .digest('hex');
  return `wusp-${digest.slice(0, 40)}`;
}

const ARCHITECTURES: Readonly<Record<string, string>> = {
  x86: 'x86',
  x86compatible: 'x86',
  amd64: 'x64',
  x64: 'x64',
  x64compatible: 'x64',
  arm64: 'arm64',
  arm: 'arm',
};

function architectureOf(value: string | undefined): string {
  return ARCHITECTURES[(value ?? '').toLowerCase()] ?? 'unknown';
}

/** One group of a TargetGroup policy ("Ring1" or "Ring1;Ring2": the first one). */
export function groupHint(targetGroup: string): string | undefined {
  const first = targetGroup.split(';')[0]?.trim() ?? '';
  return first === '' ? undefined : first.slice(0, 128);
}

class SecretBox {
  private readonly key: Buffer;

  constructor(siteKey: Buffer) {
    this.key = Buffer.from(hkdfSync('sha256', siteKey, 'upcat', 'upcat wusp client secret v1', 32));
  }

  seal(secret: string): string {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, nonce);
    const body = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]).toString('base64');
  }

  open(sealed: string): string | undefined {
    const b = decodeBase64Strict(sealed, 'base64');
    if (b === undefined || b.length < 29) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', this.key, b.subarray(0, 12));
      d.setAuthTag(b.subarray(b.length - 16));
      return Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

export class WuspComputers {
  private readonly box: SecretBox;

  constructor(
    private readonly deps: { db: Db; registration: RegistrationService },
    siteKey: Buffer,
  ) {
    this.box = new SecretBox(siteKey);
  }

  /**
   * The computer and its client record, with the catalog version, in one statement (the hot
   * path of every call after registration). Undefined when the computer never registered.
   */
  async find(susClientId: string): Promise<Computer | undefined> {
    const row = (await this.select().where('w.sus_client_id', susClientId).first()) as
      ComputerRow | undefined;
    return row === undefined ? undefined : computerOf(row);
  }

  /** Registered computers in SusClientId order after `after`: `limit` of them (warming memory). */
  async page(after: string, limit: number): Promise<Computer[]> {
    const rows = (await this.select()
      .where('w.sus_client_id', '>', after)
      .orderBy('w.sus_client_id')
      .limit(limit)) as ComputerRow[];
    return rows.map(computerOf);
  }

  /** A computer's record, its client, the catalog version and its groups, in one statement. */
  private select(): Knex.QueryBuilder {
    const { db } = this.deps;
    return db('wusp_computers as w')
      .join('clients as c', 'c.client_id', 'w.client_id')
      .select(
        'c.*',
        'w.sus_client_id as wusp_sus_client_id',
        'w.target_group as wusp_target_group',
        catalogVersionColumn(db),
        groupIdsColumn(db),
      );
  }

  /**
   * Client-side targeting: the TargetGroup policy arrives with GetAuthorizationCookie (3.1.5.3),
   * not with RegisterComputer, which a WUA calls only when its own facts change. A known
   * computer naming another group re-registers through the registration service with the
   * facts of its record, which joins the named group as an agent's group hint does.
   */
  async retarget(
    computer: Computer,
    targetGroup: string,
    source: string | undefined,
  ): Promise<void> {
    if ((computer.targetGroup ?? '') === targetGroup.slice(0, 128)) return;
    const { db, registration } = this.deps;
    const known = (await db('wusp_computers')
      .where({ sus_client_id: computer.susClientId })
      .first('secret_sealed')) as { secret_sealed: string } | undefined;
    const secret = known === undefined ? undefined : this.box.open(known.secret_sealed);
    const hint = groupHint(targetGroup);
    if (secret !== undefined && hint !== undefined && computer.client.record_state !== 'obsolete') {
      const c = computer.client;
      await registration.register(
        {
          hardwareId: c.hardware_id,
          name: c.name,
          os: c.os,
          architecture: c.architecture,
          clientVersion: c.client_version,
          group: hint,
        },
        { secret, channel: 'wusp', ...(source === undefined ? {} : { source }) },
      );
    }
    await db('wusp_computers')
      .where({ sus_client_id: computer.susClientId })
      .update({
        target_group: targetGroup === '' ? null : targetGroup.slice(0, 128),
        updated_at: now(),
      });
  }

  /** RegisterComputer: registers (or refreshes) the computer's upcat client record. */
  async register(
    susClientId: string,
    targetGroup: string,
    info: ComputerInfo,
    source: string | undefined,
  ): Promise<Computer> {
    const { db, registration } = this.deps;
    const known = (await db('wusp_computers').where({ sus_client_id: susClientId }).first()) as
      { client_id: string; secret_sealed: string } | undefined;
    const secret = known === undefined ? undefined : this.box.open(known.secret_sealed);
    const body = {
      hardwareId: hardwareIdOf(susClientId, info),
      name: info.dnsName.slice(0, 255),
      os: `Windows ${info.osMajor}.${info.osMinor}.${info.osBuild}`,
      architecture: architectureOf(info.processorArchitecture),
      clientVersion: info.clientVersion.join('.'),
      ...(groupHint(targetGroup) === undefined ? {} : { group: groupHint(targetGroup) }),
    };
    const attempt = (withSecret: string | undefined) =>
      registration.register(body, {
        channel: 'wusp',
        ...(withSecret === undefined ? {} : { secret: withSecret }),
        ...(source === undefined ? {} : { source }),
      });
    let registered;
    try {
      try {
        registered = await attempt(secret);
      } catch (err) {
        // The record the secret belonged to was replaced or removed: register afresh.
        const gone = isUpcatError(err) && ['unauthorized', 'client_replaced'].includes(err.code);
        if (secret === undefined || !gone) throw err;
        registered = await attempt(undefined);
      }
    } catch (err) {
      if (isUpcatError(err) && err.code === 'client_blocked') throw blockedFault();
      if (isUpcatError(err) && (err.code === 'invalid_input' || err.code === 'incompatible_site')) {
        throw new WuspFault('InvalidParameters', `computerInfo: ${err.message}`);
      }
      throw err;
    }
    const at = now();
    const row = {
      sus_client_id: susClientId,
      client_id: registered.clientId,
      secret_sealed: this.box.seal(registered.secret),
      dns_name: info.dnsName.slice(0, 255),
      os_version: `${info.osMajor}.${info.osMinor}.${info.osBuild}.${info.osSpMajor}.${info.osSpMinor}`,
      os_locale: cut(info.osLocale, 32),
      os_description: cut(info.osDescription, 255),
      manufacturer: cut(info.manufacturer, 255),
      model: cut(info.model, 255),
      bios_version: cut(info.biosVersion, 255),
      bios_name: cut(info.biosName, 255),
      bios_release_date:
        info.biosReleaseDate === undefined ? null : new Date(info.biosReleaseDate).toISOString(),
      processor_architecture: cut(info.processorArchitecture, 32),
      suite_mask: info.suiteMask ?? null,
      product_type: info.productType ?? null,
      agent_version: info.clientVersion.join('.'),
      oem: cut(info.oem, 255),
      device_type: cut(info.deviceType, 255),
      firmware_version: cut(info.firmwareVersion, 255),
      target_group: targetGroup === '' ? null : targetGroup.slice(0, 128),
      registered_at: at,
      updated_at: at,
    };
    await db.transaction(async (trx) => {
      // registered_at keeps the first registration's time.
      const update = Object.fromEntries(Object.entries(row).filter(([k]) => k !== 'registered_at'));
      await trx('wusp_computers').insert(row).onConflict('sus_client_id').merge(update);
      await trx('clients').where({ client_id: registered.clientId }).update({ channel: 'wusp' });
    });
    const computer = await this.find(susClientId);
    if (computer === undefined)
      throw new WuspFault('InternalServerError', 'registration was not stored');
    return computer;
  }
}

function cut(value: string | undefined, max: number): string | null {
  return value === undefined ? null : value.slice(0, max);
}

/** A blocked computer's answer to every call: InternalServerError makes a WUA retry later. */
export function blockedFault(): WuspFault {
  return new WuspFault(
    'InternalServerError',
    'this computer is blocked by an administrator of the site',
  );
}
