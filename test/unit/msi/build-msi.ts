import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface MsiSpec {
  name: string;
  version: string;
  manufacturer: string;
  productCode: string;
}

const escape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** Builds a one-file MSI with wixl (msitools); fails loudly when wixl is not installed. */
export async function buildMsi(dir: string, spec: MsiSpec): Promise<string> {
  const base = spec.productCode.replace(/[{}]/g, '');
  const work = path.join(dir, base);
  await mkdir(work, { recursive: true });
  await writeFile(path.join(work, 'app.txt'), `payload of ${spec.name} ${spec.version}\n`);
  const wxs = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="${spec.productCode}" Name="${escape(spec.name)}" Language="1033" Codepage="1252"
      Version="${spec.version}" Manufacturer="${escape(spec.manufacturer)}"
      UpgradeCode="{11111111-2222-3333-4444-555555555555}">
    <Package InstallerVersion="200" Compressed="yes" SummaryCodepage="1252"/>
    <Media Id="1" Cabinet="app.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="Contoso">
          <Component Id="Main" Guid="{22222222-3333-4444-5555-666666666666}">
            <File Id="AppTxt" Name="app.txt" Source="app.txt" KeyPath="yes"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Main" Level="1"><ComponentRef Id="Main"/></Feature>
  </Product>
</Wix>`;
  const source = path.join(work, 'product.wxs');
  const out = path.join(work, `${base}.msi`);
  await writeFile(source, wxs);
  // wixl resolves File/@Source against its working directory.
  execFileSync('wixl', ['-o', out, source], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
  return out;
}
