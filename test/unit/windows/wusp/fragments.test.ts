import test from 'ava';
import { deriveFragments } from '../../../../src/windows/wusp/fragments.js';
import { categoryUpdateXml, softwareUpdateXml } from '../../../../src/windows/wusp/update-xml.js';

const software = () =>
  softwareUpdateXml({
    updateId: '11111111-2222-4333-8444-555555555555',
    revisionNumber: 3,
    title: 'Contoso <Client> & "friends"',
    description: 'notes',
    created: '2026-12-01T10:00:00.000Z',
    handler: {
      type: 'commandLine',
      program: 'setup.exe',
      arguments: '/quiet INSTALLDIR="C:\\Program Files\\Contoso"',
      returnCodes: [
        { code: 0, result: 'Succeeded', reboot: false },
        { code: 3010, result: 'Succeeded', reboot: true },
      ],
      defaultResult: 'Failed',
    },
    isInstalled: {
      kind: 'MsiProductInstalled',
      ProductCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
    },
    isInstallable: {
      kind: 'And',
      rules: [
        { kind: 'WindowsVersion', Comparison: 'GreaterThanOrEqualTo', MajorVersion: 10 },
        { kind: 'True' },
      ],
    },
    categories: ['aaaaaaaa-2222-4333-8444-555555555555'],
    prerequisites: [
      ['bbbbbbbb-2222-4333-8444-555555555555', 'cccccccc-2222-4333-8444-555555555555'],
    ],
    bundles: [],
    supersedes: ['dddddddd-2222-4333-8444-555555555555'],
    file: { name: 'a.cab', size: 10, sha1: '00'.repeat(20), sha256: 'ff'.repeat(32) },
  } as Parameters<typeof softwareUpdateXml>[0]);

test('core: identity, Properties with only the core attributes and no children, relationships, rules (3.1.1.1)', (t) => {
  const { core } = deriveFragments(software());
  t.true(
    core.startsWith(
      '<UpdateIdentity UpdateID="11111111-2222-4333-8444-555555555555" RevisionNumber="3" /><Properties UpdateType="Software" ExplicitlyDeployable="true" AutoSelectOnWebSites="true" /><Relationships>',
    ),
  );
  t.regex(core, /<AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="aaaaaaaa-/);
  t.regex(
    core,
    /<IsInstalled><m\.MsiProductInstalled ProductCode="\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\}" \/><\/IsInstalled>/,
  );
  t.regex(
    core,
    /<IsInstallable><And><b\.WindowsVersion Comparison="GreaterThanOrEqualTo" MajorVersion="10" \/><True \/><\/And><\/IsInstallable>/,
  );
  t.notRegex(
    core,
    /xmlns|upd:|lar:|bar:|CreationDate|InstallationBehavior|Files|HandlerSpecificData/,
  );
});

test('extended: ExtendedProperties without the core attributes, Files with both digests, handler data', (t) => {
  const { extended, localized } = deriveFragments(software());
  t.true(
    extended.startsWith(
      '<ExtendedProperties DefaultPropertiesLanguage="en" Handler="http://schemas.microsoft.com/msus/2002/12/UpdateHandlers/CommandLineInstallation" MaxDownloadSize="10" MinDownloadSize="10"><InstallationBehavior RebootBehavior="CanRequestReboot" />',
    ),
  );
  t.regex(
    extended,
    /<Files><File Digest="AAAAAAAAAAAAAAAAAAAAAAAAAAA=" DigestAlgorithm="SHA1" FileName="a.cab" Size="10" Modified="2026-12-01T10:00:00.000Z"><AdditionalDigest Algorithm="SHA256">\/\/\/\/\/\/[^<]*<\/AdditionalDigest><\/File><\/Files>/,
  );
  t.regex(
    extended,
    /<HandlerSpecificData type="cmd:CommandLineInstallation"><InstallCommand Program="setup.exe" Arguments="\/quiet INSTALLDIR=&quot;C:\\Program Files\\Contoso&quot;" RebootByDefault="false" DefaultResult="Failed"><ReturnCode Code="0" Result="Succeeded" Reboot="false" \/><ReturnCode Code="3010" Result="Succeeded" Reboot="true" \/><\/InstallCommand><\/HandlerSpecificData>$/,
  );
  t.notRegex(extended, /xmlns|UpdateType|CreationDate|PublicationState|ExplicitlyDeployable/);
  t.is(
    localized.get('en'),
    '<LocalizedProperties><Language>en</Language><Title>Contoso &lt;Client&gt; &amp; "friends"</Title><Description>notes</Description></LocalizedProperties>',
  );
});

test('an MSI update carries WindowsInstallerApp handler data, as a real WSUS writes it', (t) => {
  const xml = softwareUpdateXml({
    updateId: '11111111-2222-4333-8444-555555555555',
    revisionNumber: 1,
    title: 'x',
    description: '',
    created: '2026-12-01T10:00:00.000Z',
    handler: {
      type: 'msi',
      productCode: '{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}',
      program: 'client.msi',
      installCommandLine: 'ALLUSERS=1',
      uninstallCommandLine: '',
      returnCodes: [],
      defaultResult: 'Failed',
    },
    isInstalled: undefined,
    isInstallable: undefined,
    categories: [],
    prerequisites: [],
    bundles: [],
    supersedes: [],
    file: undefined,
  });
  const { extended } = deriveFragments(xml);
  t.regex(
    extended,
    /Handler="http:\/\/schemas.microsoft.com\/msus\/2002\/12\/UpdateHandlers\/WindowsInstaller"/,
  );
  t.regex(
    extended,
    /<HandlerSpecificData type="msp:WindowsInstallerApp"><MsiData ProductCode="\{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0\}" MsiFile="client.msi" CommandLine="ALLUSERS=1" \/><\/HandlerSpecificData>/,
  );
});

test('category updates: UpdateType Category, a product under its company', (t) => {
  const { core, extended } = deriveFragments(
    categoryUpdateXml({
      updateId: 'aaaaaaaa-2222-4333-8444-555555555555',
      type: 'Product',
      title: 'Contoso Client',
      parent: 'eeeeeeee-2222-4333-8444-555555555555',
    }),
  );
  t.is(
    core,
    '<UpdateIdentity UpdateID="aaaaaaaa-2222-4333-8444-555555555555" RevisionNumber="1" /><Properties UpdateType="Category" /><Relationships><Prerequisites><AtLeastOne IsCategory="true"><UpdateIdentity UpdateID="eeeeeeee-2222-4333-8444-555555555555" /></AtLeastOne></Prerequisites></Relationships>',
  );
  t.regex(extended, /<CategoryInformation CategoryType="Product"/);
});
