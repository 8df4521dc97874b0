import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tool } from './authenticode.js';

/** A one-file MSI (the payload in an embedded cabinet), as the Authenticode MSI tests sign it. */
const wxs = `<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="*" Name="upcat msi test" Language="1033" Version="1.2.3" Manufacturer="upcat"
           UpgradeCode="6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f">
    <Package InstallerVersion="200" Compressed="yes"/>
    <Media Id="1" Cabinet="payload.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="ProgramFilesFolder">
        <Directory Id="INSTALLDIR" Name="upcat-msi-test">
          <Component Id="Main" Guid="6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e50">
            <File Id="Payload" Name="payload.bin" Source="payload.bin"/>
          </Component>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="All" Level="1"><ComponentRef Id="Main"/></Feature>
  </Product>
</Wix>
`;

/** Where msiextract -C DIR puts the payload of an MSI built here. */
export const EXTRACTED_PAYLOAD = path.join('Program Files', 'upcat-msi-test', 'payload.bin');

/** Builds `dir`/product.msi with wixl (msitools); fails loudly when wixl does. */
export async function buildPayloadMsi(dir: string, payload: Buffer | string): Promise<string> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'payload.bin'), payload);
  await writeFile(path.join(dir, 'product.wxs'), wxs);
  // wixl resolves File/@Source against its working directory.
  const r = await tool('sh', ['-c', `cd "${dir}" && wixl -o product.msi product.wxs`]);
  if (r.code !== 0) throw new Error(`wixl failed: ${r.stderr}`);
  return path.join(dir, 'product.msi');
}
