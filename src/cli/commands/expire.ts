import type { Command } from 'commander';
import type { ExpireResult } from '../../publish/expire-service.js';
import { localActor, output } from '../context.js';
import { localOrRemote, remoteOptions, type RemoteOptions } from '../remote.js';

/** `upcat expire <updateId>`; with `--server URL --token T`, through `POST /v1/updates/:id/expire`. */
export function registerExpire(program: Command): void {
  const cmd = program
    .command('expire')
    .description('withdraw an update from the catalog (it leaves every client policy)')
    .argument('<updateId>', 'the update to expire')
    .option('--json', 'print the result as JSON');
  remoteOptions(cmd).action(
    async (updateId: string, opts: RemoteOptions & { json?: boolean }, command: Command) => {
      const result = await localOrRemote(
        command,
        opts,
        (site) => site.expire.expire(updateId, localActor()),
        (remote) =>
          remote.postJson<ExpireResult>(`/v1/updates/${encodeURIComponent(updateId)}/expire`, {}),
      );
      output(opts.json, result, () =>
        result.changed
          ? `expired update ${result.updateId} (catalog version ${result.catalogVersion})`
          : `update ${result.updateId} was already expired`,
      );
    },
  );
}
