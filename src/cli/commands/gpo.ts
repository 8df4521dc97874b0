import path from 'node:path';
import type { Command } from 'commander';
import { parsePropertyFlags } from '../../agent/properties.js';
import { loadConfig } from '../../config/load.js';
import { notFound } from '../../errors.js';
import { loadSiteSigning } from '../../signing/site-signing.js';
import { buildGpoExport, GPO_FORMATS } from '../../windows/gpo/export.js';
import { parseGpoExportFlags, type GpoExportFlags } from '../../windows/gpo/options.js';
import { writeExportFiles } from '../../windows/gpo/write.js';
import { globalOptions, output } from '../context.js';

type ExportFlags = Omit<GpoExportFlags, 'properties'> & {
  out: string;
  force?: boolean;
  property: string[];
  json?: boolean;
};

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `upcat gpo` (issue 12 item 7): Group Policy that points Windows machines at the site. */
export function registerGpo(program: Command): void {
  const gpo = program
    .command('gpo')
    .description('Group Policy for Windows machines: the Windows Update Agent and upcat agent');
  gpo
    .command('export')
    .description(
      'write the Windows Update policy pointing Windows machines at this site (Registry.pol, .reg, ' +
        'PowerShell), the publisher and site CA certificates for Trusted Publishers and Trusted Root ' +
        '(in the policy, as .cer files and certutil lines) and the upcat.admx/.adml template',
    )
    .requiredOption('--out <dir>', 'output directory (new or empty; see --force)')
    .option('--format <list>', `comma-separated: ${GPO_FORMATS.join(', ')}`, GPO_FORMATS.join(','))
    .option('--force', 'write into a directory that is not empty (replacing same-named files)')
    .option(
      '--host <name>',
      'the name Windows machines reach the site by (default: the host of server.publicUrl, else the first server.tlsNames entry other than localhost, else this host name)',
    )
    .option(
      '--url <url>',
      'the Windows Update server URL to set, instead of https://<host>:<httpsPort> (HTTPS listener) or http://<host>:<port>',
    )
    .option(
      '--target-group <names>',
      'client-side targeting: TargetGroup, group names separated by ; (default: off)',
    )
    .option(
      '--au-options <n>',
      'AUOptions: 2 notify before download, 3 download and notify, 4 download and install on schedule, 5 local admin chooses',
      '4',
    )
    .option('--install-day <n>', 'ScheduledInstallDay: 0 every day, 1-7 Sunday to Saturday', '0')
    .option('--install-time <hour>', 'ScheduledInstallTime: the hour, 0-23', '3')
    .option(
      '--detection-frequency <hours>',
      'DetectionFrequency: hours between detections, 1-22',
      '8',
    )
    .option(
      '--no-agent-policy',
      "leave out upcat's own policy (HKLM\\Software\\Policies\\upcat: site code and server URL for upcat's agent)",
    )
    .option(
      '--fallback-status-point <url>',
      "upcat's own policy: the fallback status point for upcat's agent",
    )
    .option(
      '--property <name=value>',
      "upcat's own policy: an installation property for upcat's agent (repeatable)",
      collect,
      [],
    )
    .option('--json', 'print what was written as JSON')
    .action(async (opts: ExportFlags, cmd: Command) => {
      const options = parseGpoExportFlags({
        ...opts,
        properties: parsePropertyFlags(opts.property),
      });
      const config = loadConfig({ home: globalOptions(cmd).home });
      const signing = await loadSiteSigning(config);
      if (signing === undefined)
        throw notFound(`site ${config.home} has no signing material yet: run upcat init`);
      const result = buildGpoExport(
        config,
        {
          publisherCertificatePem: signing.publisher.certificatePem,
          caCertificatePem: signing.caCertificatePem,
        },
        options,
      );
      const outDir = path.resolve(opts.out);
      await writeExportFiles(outDir, result.files, opts.force === true);
      for (const w of result.warnings) process.stderr.write(`upcat: warning: ${w}\n`);
      const summary = {
        out: outDir,
        windowsUpdateUrl: result.windowsUpdateUrl,
        https: result.https,
        agentUrl: result.agentUrl ?? null,
        files: result.files.map((f) => ({ path: f.path, bytes: f.data.length })),
        certificates: result.certificates.map((c) => ({
          store: c.store,
          thumbprint: c.thumbprint,
          subject: c.subject,
          file: `certificates/${c.fileName}`,
        })),
        values: result.entries.length,
        warnings: result.warnings,
      };
      output(opts.json, summary, () =>
        [
          `wrote ${summary.files.length} files to ${outDir}: Windows Update at ${summary.windowsUpdateUrl}`,
          ...summary.files.map((f) => `  ${f.path} (${f.bytes} bytes)`),
          ...summary.certificates.map((c) => `  ${c.store}: ${c.subject} (${c.thumbprint})`),
        ].join('\n'),
      );
    });
}
