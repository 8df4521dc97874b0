import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Site } from '../../src/app.js';
import { UpcatError } from '../../src/errors.js';
import { exportCatalog, exportSdp, type ExportOptions } from '../../src/windows/sdp/index.js';
import { fileManifest, publishBytes } from '../helpers/publish.js';
import { packagesOfCatalog, validateCatalog, validateSdpFiles } from '../helpers/sdp-schema.js';
import { dbTest } from '../helpers/site.js';

const run = promisify(execFile);
const OPTIONS: ExportOptions = {
  vendorName: 'Contoso IT',
  contentBaseUrl: 'https://upcat.example.com:8531/',
};

const WINDOWS = { Platform: { Name: 'windows' } };
const REG = {
  RegSz: {
    Key: 'HKEY_LOCAL_MACHINE',
    Subkey: 'SOFTWARE\\Contoso\\Tool',
    Value: 'Version',
    Comparison: 'EqualTo',
    Data: '2.0',
  },
};

/** A catalog that uses each mapping: command line with return codes, MSI, relationships, rule rewrites. */
async function publishSample(site: Site, dir: string) {
  const payload = async (name: string, text: string) => {
    await writeFile(path.join(dir, name), text);
    return text;
  };
  const base = await publishBytes(
    site,
    await payload('base.exe', 'base runtime'),
    fileManifest('base.exe', {
      title: 'Contoso Runtime 1.0',
      product: 'Contoso Runtime',
      version: '1.0',
      isInstallable: WINDOWS,
      isInstalled: { FileExists: { Path: 'Contoso\\runtime.dll', Csidl: 38 } },
    }),
    'base.exe',
  );
  const alt = await publishBytes(
    site,
    await payload('alt.exe', 'alt runtime'),
    fileManifest('alt.exe', {
      title: 'Contoso Runtime Lite 1.0',
      product: 'Contoso Runtime Lite',
      isInstallable: { Processor: { Architecture: 'x64' } },
    }),
    'alt.exe',
  );
  const old = await publishBytes(
    site,
    await payload('tool-1.exe', 'tool one'),
    fileManifest('tool-1.exe', { title: 'Contoso Tool 1.0', isInstallable: WINDOWS }),
    'tool-1.exe',
  );
  const tool = await publishBytes(
    site,
    await payload('tool-2.exe', 'tool two'),
    fileManifest('tool-2.exe', {
      title: 'Contoso Tool 2.0 & <friends>',
      description: 'Second "major" release.\nTwo lines.',
      version: '2.0',
      classification: 'Security Updates',
      handler: {
        type: 'commandLine',
        program: 'tool-2.exe',
        arguments: '/S /norestart',
        returnCodes: [
          { code: 0, result: 'Succeeded' },
          { code: 3010, result: 'Succeeded', reboot: true },
          { code: 4294967295, result: 'Failed' },
        ],
        defaultResult: 'Failed',
      },
      isInstalled: REG,
      isInstallable: {
        And: [
          {
            Platform: {
              Name: 'windows',
              Comparison: 'GreaterThanOrEqualTo',
              Version: '10.0.17763',
            },
          },
          {
            Or: [
              { Platform: { Name: 'linux' } },
              { WmiQuery: { WqlQuery: 'SELECT * FROM Win32_OperatingSystem' } },
            ],
          },
        ],
      },
      supersedes: [old.updateId],
      prerequisites: [[base.updateId, alt.updateId], [base.updateId]],
    }),
    'tool-2.exe',
  );
  const msi = await publishBytes(
    site,
    await payload('agent.msi', 'msi bytes'),
    fileManifest('agent.msi', {
      title: 'Contoso Agent 3.1',
      product: 'Contoso Agent',
      version: '3.1',
      classification: 'Applications',
      handler: {
        type: 'msi',
        productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
        installCommandLine: 'REBOOT=ReallySuppress',
      },
      isInstalled: {
        MsiProductInstalled: {
          ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
          VersionMin: '3.1',
        },
      },
      isInstallable: WINDOWS,
    }),
    'agent.msi',
  );
  const linux = await publishBytes(
    site,
    'linux only',
    fileManifest('tool.sh', { title: 'Contoso Tool for Linux', product: 'Contoso Linux Tool' }),
    'tool.sh',
  );
  const fact = await publishBytes(
    site,
    'fact based',
    fileManifest('fact.exe', {
      title: 'Contoso Fact Tool',
      product: 'Contoso Fact Tool',
      isInstallable: { Fact: { Name: 'os.id', Value: 'debian' } },
    }),
    'fact.exe',
  );
  return { base, alt, old, tool, msi, linux, fact };
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'upcat-export-'));
}

dbTest(
  'export catalog: every package validates against the SDP schemas; unexpressible ones are left out with the reason',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const ids = await publishSample(site, dir);
      const out = path.join(dir, 'catalog.xml');
      const result = await exportCatalog(site.db, OPTIONS, { out });
      const xml = await readFile(out, 'utf8');
      const check = await validateCatalog(xml);
      t.deepEqual(check.invalid, [], 'xmllint --schema accepts every package');
      t.is(check.count, 5);
      t.deepEqual(
        result.leftOut.map((l) => [l.updateId, l.reason]).sort(),
        [
          [
            ids.fact.updateId,
            'IsInstallable: Fact "os.id" (an inventory fact) has no equivalent in Microsoft\'s rule vocabulary',
          ],
          [ids.linux.updateId, 'not applicable to Windows (IsInstallable is false there)'],
        ].sort(),
      );

      const tool = packagesOfCatalog(xml).find((p) => p.includes(ids.tool.updateId)) ?? '';
      // OriginFile: Digest is the base64 SHA-1, AdditionalDigest the SHA-256, as openssl computes them.
      const sha1 = (
        await run('sh', [
          '-c',
          `openssl dgst -sha1 -binary "${path.join(dir, 'tool-2.exe')}" | base64`,
        ])
      ).stdout.trim();
      const sha256 = (
        await run('sh', [
          '-c',
          `openssl dgst -sha256 -binary "${path.join(dir, 'tool-2.exe')}" | base64`,
        ])
      ).stdout.trim();
      t.regex(
        tool,
        new RegExp(
          `<sdp:OriginFile Digest="${sha1.replace(/[+/]/g, '\\$&')}" FileName="tool-2.exe" Size="8"`,
        ),
      );
      t.true(
        tool.includes(`<sdp:AdditionalDigest Algorithm="SHA256">${sha256}</sdp:AdditionalDigest>`),
      );
      t.regex(tool, /OriginUri="https:\/\/upcat\.example\.com:8531\/content\/[0-9a-f]{64}"/);
      // Relationships: supersedence, and the prerequisite OR-groups as AtLeastOne groups.
      t.true(
        tool.includes(
          `<sdp:SupersededPackages><sdp:PackageID>${ids.old.updateId}</sdp:PackageID></sdp:SupersededPackages>`,
        ),
      );
      t.true(
        tool.includes(
          `<sdp:Prerequisites><sdp:AtLeastOne><sdp:PackageID>${ids.base.updateId}</sdp:PackageID><sdp:PackageID>${ids.alt.updateId}</sdp:PackageID></sdp:AtLeastOne><sdp:AtLeastOne><sdp:PackageID>${ids.base.updateId}</sdp:PackageID></sdp:AtLeastOne></sdp:Prerequisites>`,
        ),
      );
      // Installer: return codes (4294967295 as the signed int -1), reboot behaviour from them.
      t.true(tool.includes('<cmd:ReturnCode Code="3010" Result="Succeeded" Reboot="true"/>'));
      t.true(tool.includes('<cmd:ReturnCode Code="-1" Result="Failed" Reboot="false"/>'));
      t.true(tool.includes('<sdp:InstallProperties RebootBehavior="CanRequestReboot"/>'));
      // Platform windows >= 10.0.17763 became bar:WindowsVersion; the Linux branch of the Or folded away.
      t.true(
        tool.includes(
          '<bar:WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="10" MinorVersion="0" BuildNumber="17763"/>',
        ),
      );
      t.false(tool.includes('Platform'));
      t.true(tool.includes('<sdp:UpdateSpecificData UpdateClassification="Security Updates"/>'));
      const msi = packagesOfCatalog(xml).find((p) => p.includes(ids.msi.updateId)) ?? '';
      t.true(
        msi.includes(
          '<msi:MsiInstallerData MsiFile="agent.msi" ProductCode="{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}" CommandLine="REBOOT=ReallySuppress"/>',
        ),
      );
      t.true(msi.includes('<sdp:ApplicationSpecificData/>'));
      t.true(msi.includes('<sdp:UninstallProperties/>'));
      t.true(
        result.packages
          .find((p) => p.updateId === ids.msi.updateId)
          ?.notes.some((n) => n.includes('Platform "windows" is true')) === true,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest(
  'export sdp: one revision validates; --product and --since filter the catalog',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const ids = await publishSample(site, dir);
      const out = path.join(dir, 'tool.sdp');
      const result = await exportSdp(site.db, OPTIONS, {
        updateId: ids.tool.updateId.toUpperCase(),
        out,
      });
      t.is(result.revision, 1);
      const [check] = await validateSdpFiles([out]);
      t.true(check?.valid, check?.output);
      const xml = await readFile(out, 'utf8');
      t.true(xml.includes('<sdp:Title>Contoso Tool 2.0 &amp; &lt;friends&gt;</sdp:Title>'));
      t.true(xml.includes(`PackageID="${ids.tool.updateId}"`));

      const product = await exportCatalog(site.db, OPTIONS, { product: 'Contoso Agent' });
      t.deepEqual(
        product.packages.map((p) => p.updateId),
        [ids.msi.updateId],
      );
      const future = await exportCatalog(site.db, OPTIONS, {
        since: new Date(Date.now() + 60_000),
      });
      t.is(future.packages.length, 0);
      t.deepEqual((await validateCatalog(future.xml ?? '')).invalid, []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);

dbTest(
  'export refuses an unknown or expired update, an unexportable one and an existing output path; nothing is written',
  async (t, { site }) => {
    const dir = await tempDir();
    try {
      const ids = await publishSample(site, dir);
      const out = path.join(dir, 'x.sdp');
      const unknown = await t.throwsAsync(
        exportSdp(site.db, OPTIONS, { updateId: '6f1c2f0e-8c4e-4a52-9b7d-3c2f5e1a9d10', out }),
        { instanceOf: UpcatError },
      );
      t.is(unknown?.code, 'not_found');
      await site.expire.expire(ids.old.updateId, 'test');
      const expired = await t.throwsAsync(
        exportSdp(site.db, OPTIONS, { updateId: ids.old.updateId, out }),
        {
          instanceOf: UpcatError,
        },
      );
      t.is(expired?.code, 'conflict');
      t.regex(expired?.message ?? '', /is expired/);
      const linux = await t.throwsAsync(
        exportSdp(site.db, OPTIONS, { updateId: ids.linux.updateId, out }),
        {
          instanceOf: UpcatError,
        },
      );
      t.regex(linux?.message ?? '', /not applicable to Windows/);
      const noRevision = await t.throwsAsync(
        exportSdp(site.db, OPTIONS, { updateId: ids.tool.updateId, revision: 2, out }),
        { instanceOf: UpcatError },
      );
      t.is(noRevision?.code, 'not_found');
      await t.throwsAsync(stat(out), { code: 'ENOENT' }, 'nothing written');

      await writeFile(out, 'keep me');
      const exists = await t.throwsAsync(
        exportSdp(site.db, OPTIONS, { updateId: ids.tool.updateId, out }),
        {
          instanceOf: UpcatError,
        },
      );
      t.is(exists?.code, 'conflict');
      const catalogExists = await t.throwsAsync(exportCatalog(site.db, OPTIONS, { out }), {
        instanceOf: UpcatError,
      });
      t.is(catalogExists?.code, 'conflict');
      t.is(await readFile(out, 'utf8'), 'keep me');
      // The expired update is no longer in the catalog.
      const catalog = await exportCatalog(site.db, OPTIONS, {});
      t.false(catalog.packages.some((p) => p.updateId === ids.old.updateId));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  },
);
