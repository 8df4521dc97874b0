import path from 'node:path';
import { z } from 'zod';
import { parseWith } from '../validation.js';
import { readJsonFile } from './state-dir.js';

/**
 * The provisioned configuration `<state>/agent.json` (issue 6 item 1), written by whoever installs
 * the agent (an image, a deployment tool). Every field is optional; unknown fields are errors.
 * Relative paths resolve against the state directory.
 */
export const agentConfigSchema = z
  .object({
    /** The site's base URL, e.g. http://upcat.example.com:8530 */
    server: z.string().url().optional(),
    /** Site assignment: the agent refuses a site whose code differs (also Group Policy SiteCode). */
    siteCode: z
      .string()
      .regex(/^[A-Z0-9]{3}$/)
      .optional(),
    /**
     * The fallback status point's base URL (`POST <url>/fsp/v1/status`), when it is not the
     * site: used when the site's own client routes cannot be used (unreachable, refusing).
     */
    fallbackStatusPoint: z.string().url().optional(),
    /** A TUF root.json to trust instead of the server's 1.root.json (preferred over trust on first use). */
    root: z.string().min(1).optional(),
    /** The site CA certificate (PEM file) that payload signatures chain to. */
    caCert: z.string().min(1).optional(),
    /** The policy signing key's public half, as GET /v1/site publishes it. */
    policyKey: z
      .object({
        keyid: z.string(),
        keytype: z.literal('ed25519'),
        scheme: z.literal('ed25519'),
        keyval: z.object({ public: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
      })
      .strict()
      .optional(),
    /** Native mode: the site's HTTPS port when it is not 8531 (and the site does not say). */
    httpsPort: z.number().int().min(1).max(65535).optional(),
    group: z.string().min(1).max(128).optional(),
    enrollmentToken: z.string().min(1).max(256).optional(),
    /** Installation properties provisioned locally (beaten by --property, beating the site's). */
    properties: z.record(z.string(), z.string().max(4096)).default({}),
  })
  .strict();
export type AgentConfig = z.infer<typeof agentConfigSchema>;

export const configFile = (stateDir: string): string => path.join(stateDir, 'agent.json');

export async function loadAgentConfig(stateDir: string): Promise<AgentConfig> {
  const file = configFile(stateDir);
  const raw = await readJsonFile(file);
  const config = parseWith(agentConfigSchema, raw ?? {}, `agent config ${file}`, 'invalid_config');
  const resolve = (p: string | undefined): string | undefined =>
    p === undefined ? undefined : path.resolve(stateDir, p);
  const root = resolve(config.root);
  const caCert = resolve(config.caCert);
  return {
    ...config,
    ...(root === undefined ? {} : { root }),
    ...(caCert === undefined ? {} : { caCert }),
  };
}
