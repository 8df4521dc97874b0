import { z } from 'zod';

/**
 * The typed site configuration. Every field has a default, so an empty `upcat.config.json`
 * (or none) gives a working embedded site. Unknown keys are errors: a typo must not pass silently.
 */
export const configSchema = z
  .object({
    site: z
      .object({
        /** Three-character site code, as Configuration Manager sites have. */
        code: z
          .string()
          .regex(/^[A-Z0-9]{3}$/, 'must be three upper-case letters or digits')
          .default('UPC'),
        name: z.string().min(1).max(128).default('upcat site'),
        /** `mixed`: HTTP with signed metadata and client tokens; `native`: HTTPS with client certificates. */
        mode: z.enum(['mixed', 'native']).default('mixed'),
        /** Clients older than this are refused at registration. */
        minimumClientVersion: z
          .string()
          .regex(/^\d+(\.\d+){0,3}$/, 'must be a version such as 1.0.0')
          .default('0.1.0'),
        /** Client protocol versions (major.minor) this site speaks; a client's major must be listed. */
        protocolVersions: z
          .array(z.string().regex(/^\d+\.\d+$/, 'must be a protocol version such as 1.0'))
          .min(1)
          .default(['1.0']),
        /** A new registration whose hardware ID an active record has: `auto` replaces it, `manual` holds a conflict. */
        duplicateHardwareId: z.enum(['auto', 'manual']).default('auto'),
        /** `auto-trusted`: approve clients with an enrollment token or a site-issued certificate. */
        approval: z.enum(['auto-all', 'auto-trusted', 'manual']).default('auto-trusted'),
        /** Published to clients; `sensitive` ones only to approved clients. */
        installationProperties: z
          .record(
            z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'must be a property name'),
            z
              .object({ value: z.string().max(4096), sensitive: z.boolean().default(false) })
              .strict(),
          )
          .default({}),
        /** The fallback status point (unauthenticated): body size and requests per minute per address. */
        fallbackStatus: z
          .object({
            maxBodyBytes: z.number().int().min(256).max(1_048_576).default(16_384),
            perMinute: z.number().int().min(1).max(100_000).default(60),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    server: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: z.number().int().min(0).max(65535).default(8530),
        httpsPort: z.number().int().min(0).max(65535).default(8531),
        /** Also listen on httpsPort (mutual TLS) in mixed mode; native mode always does. */
        https: z.boolean().default(false),
        /** Host names and addresses of the site-issued server certificate. */
        tlsNames: z.array(z.string().min(1).max(253)).min(1).default(['localhost']),
        /** An operator's server certificate (PEM, may hold the chain) and key instead; relative to the site home. */
        tlsCert: z.string().min(1).optional(),
        tlsKey: z.string().min(1).optional(),
        /** How long a graceful shutdown waits for requests in flight before closing them. */
        shutdownTimeoutMs: z.number().int().min(0).max(600_000).default(10_000),
        /**
         * How often a server reads the catalog version and the clients change counter: the
         * longest a change made by another process or node goes unseen by the sync fast path.
         */
        changePollMs: z.number().int().min(10).max(60_000).default(200),
        /**
         * Server processes on this node (server/workers.ts): one per core carries more syncs.
         * Changes made through one are seen by the others at their next request (change-board.ts).
         */
        workers: z.number().int().min(1).max(64).default(1),
        /**
         * Answer up-to-date clients' checks of timestamp.json and root.json (304), and the syncs
         * the fast path answers from memory, on the connection, before node:http parses them
         * (server/metadata-front.ts); plain HTTP only. Off, node:http answers them as every other
         * request.
         */
        metadataFront: z.boolean().default(true),
        /** Clients whose nothing-new sync is answered from memory (about 150 bytes each); 0 turns it off. */
        syncCacheClients: z.number().int().min(0).max(10_000_000).default(1_000_000),
        /**
         * Windows computers whose MS-WUSP scans find their record in memory, not the database
         * (about 1 KB each; windows/wusp/computer-memory.ts); 0 turns it off.
         */
        wuspCacheComputers: z.number().int().min(0).max(10_000_000).default(200_000),
        /**
         * Who may read `GET /metrics`: `loopback` (callers on this host, not through a proxy),
         * `open` (anyone), or `token` (a bearer token of scope `admin`).
         */
        metricsAccess: z.enum(['loopback', 'open', 'token']).default('loopback'),
        /**
         * Reverse proxies (IP addresses) whose forwarding headers (Forwarded, X-Forwarded-For,
         * X-Real-IP) are believed; from any other caller those headers are ignored.
         */
        trustedProxies: z.array(z.union([z.ipv4(), z.ipv6()])).default([]),
        /**
         * Request bodies: after this long a body must have averaged `minBodyBytesPerSecond`
         * since, or the request is answered 408 and closed (a slow or stalled sender).
         */
        bodyTimeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
        minBodyBytesPerSecond: z.number().int().min(1).max(1_073_741_824).default(1024),
        /**
         * People's console sessions (issue 14 item 4): a session ends after this many minutes
         * without a request (idle), and this many hours after login whatever happens (absolute).
         */
        sessionIdleMinutes: z.number().int().min(1).max(1440).default(30),
        sessionMaxHours: z.number().int().min(1).max(720).default(12),
        /** Login attempts per minute per source address, and failed ones per account name per 15 minutes. */
        loginAttemptsPerMinute: z.number().int().min(1).max(10_000).default(10),
        /**
         * The URL that catalog consumers (ConfigMgr, WSUS Package Publisher) reach this site at,
         * such as https://upcat.example.com:8531; exported SDPs and catalogs name payloads under
         * it (OriginFile/@OriginUri = <publicUrl>/content/<sha256>). Absent: no OriginUri.
         */
        publicUrl: z
          .string()
          .regex(/^https?:\/\/[^\s"<>]+$/, 'must be an http:// or https:// URL')
          .max(1024)
          .optional(),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** `postgres://...` for PostgreSQL; absent means the embedded SQLite file under catalog/. */
        url: z.string().min(1).optional(),
        /** PostgreSQL schema to use (lets several sites or test runs share one database). */
        schema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier')
          .optional(),
        /** SQLite busy timeout: how long a writer waits for another process's lock. */
        busyTimeoutMs: z.number().int().min(0).max(600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    paths: z
      .object({
        /** Relative paths resolve against the site home. */
        catalog: z.string().min(1).default('catalog'),
        signing: z.string().min(1).default('signing'),
        packages: z.string().min(1).default('packages'),
      })
      .strict()
      .prefault({}),
    /**
     * Where bytes and TUF metadata live (issue 15; docs/SCALING.md). The defaults keep today's
     * single-node layout under the site home.
     */
    storage: z
      .object({
        /** Payloads, their .p7s signatures and update documents: `fs` (under catalog/) or `s3`. */
        blobs: z
          .discriminatedUnion('type', [
            z.object({ type: z.literal('fs') }).strict(),
            z
              .object({
                type: z.literal('s3'),
                bucket: z.string().min(3).max(63),
                /** Key prefix inside the bucket, such as `upcat/`; empty for the bucket's root. */
                prefix: z
                  .string()
                  .max(512)
                  .regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, 'must be empty or end with /')
                  .default(''),
                /** An S3-compatible endpoint (MinIO, Ceph RGW, R2); absent means AWS. */
                endpoint: z
                  .string()
                  .regex(/^https?:\/\/[^\s"<>]+$/, 'must be an http:// or https:// URL')
                  .optional(),
                region: z.string().min(1).max(64).default('us-east-1'),
                forcePathStyle: z.boolean().default(false),
                /**
                 * Serve content by a redirect instead of proxying bytes: `presigned` (a presigned
                 * GET URL) or a CDN base URL that `<base>/<key>` is appended to. Absent: proxied.
                 */
                redirect: z
                  .union([
                    z.literal('presigned'),
                    z.string().regex(/^https?:\/\/[^\s"<>]+$/, 'must be "presigned" or a URL'),
                  ])
                  .optional(),
              })
              .strict(),
          ])
          .default({ type: 'fs' }),
        /**
         * TUF metadata: `files` (catalog/tuf/, one node or a shared file system) or `database`
         * (rows shared by every node; the writer serialized by an advisory lock). Absent: `files`
         * on either engine (a site moves with `upcat migrate-storage`; several nodes need
         * `database`).
         */
        metadata: z.enum(['files', 'database']).default('files'),
      })
      .strict()
      .prefault({}),
    limits: z
      .object({
        /** Largest payload accepted by publish (bytes). Default 8 GiB. */
        maxPayloadBytes: z
          .number()
          .int()
          .min(1)
          .default(8 * 1024 ** 3),
        /** Largest manifest accepted (bytes). */
        maxManifestBytes: z
          .number()
          .int()
          .min(1)
          .default(1024 * 1024),
        /** Most entries accepted in a package zip. */
        maxPackageEntries: z.number().int().min(1).default(100_000),
      })
      .strict()
      .prefault({}),
    signing: z
      .object({
        /** Signatures required per TUF role (TUF spec §4.3); applied when keys are first made. */
        thresholds: z
          .object({
            root: z.number().int().min(1).max(16).default(1),
            targets: z.number().int().min(1).max(16).default(1),
            snapshot: z.number().int().min(1).max(16).default(1),
            timestamp: z.number().int().min(1).max(16).default(1),
          })
          .strict()
          .prefault({}),
        /** How long each role's metadata stays valid, in days (spec defaults in spirit). */
        expiryDays: z
          .object({
            root: z.number().min(1).max(3650).default(365),
            targets: z.number().min(1).max(3650).default(90),
            snapshot: z.number().min(0.01).max(365).default(7),
            timestamp: z.number().min(0.001).max(365).default(1),
          })
          .strict()
          .prefault({}),
        /** How often `upcat serve` checks whether timestamp/snapshot need re-signing. */
        refreshIntervalSeconds: z.number().int().min(1).max(86_400).default(600),
      })
      .strict()
      .prefault({}),
    /** Automatic maintenance (`upcat gc`, and on a timer in `upcat serve`; docs/OPERATIONS.md). */
    maintenance: z
      .object({
        /** Hours between maintenance runs in `upcat serve` (one node at a time); 0 turns the timer off. */
        intervalHours: z.number().min(0).max(500).default(24),
        /**
         * Minutes a file must have been superseded or left alone before gc removes it: TUF metadata
         * replaced by a newer version, an unreferenced pool file, a temporary file.
         */
        graceMinutes: z.number().int().min(1).max(10_080).default(60),
      })
      .strict()
      .prefault({}),
    /** The rollout engine (issue 14 item 6; docs/OPERATIONS.md "Rollouts"). */
    rollouts: z
      .object({
        /** Seconds between the engine's passes in `upcat serve` (one node at a time); 0 turns it off. */
        checkIntervalSeconds: z.number().int().min(0).max(86_400).default(30),
      })
      .strict()
      .prefault({}),
    /** How long maintenance keeps what is no longer current (days). */
    retention: z
      .object({
        /** Payloads of revisions expired or superseded longer than this are removed from the pool. */
        payloadDays: z.number().min(1).max(36_500).default(30),
        /** State messages older than this are rolled up into counts (the newest per client and revision stays). */
        stateMessageDays: z.number().min(1).max(36_500).default(90),
        /** Obsolete (replaced) client records not heard from for this long are deleted. */
        obsoleteClientDays: z.number().min(1).max(36_500).default(90),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z
          .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
          .default('info'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema>;

/** A loaded configuration, with the site home and the absolute data roots resolved. */
export interface SiteConfig extends Config {
  home: string;
  dirs: { catalog: string; signing: string; packages: string };
}
