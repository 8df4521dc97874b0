import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/** The shared SDP fixtures (../shared/fixtures/sdp from the project root). */
export const FIXTURES = path.resolve(process.cwd(), '../shared/fixtures/sdp');
export const SCHEMA = path.join(FIXTURES, 'schema', 'SoftwareDistributionPackage.xsd');
export const DELL_MSI = 'dc718411-a5f1-4b15-966a-63a77cbb156e.sdp';
export const DELL_DRIVER = '0e6cf4ac-2853-48aa-825b-8fe28206575f.sdp';

export function fixture(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

/** Validates with xmllint (libxml2-utils) against the SDP schema; the test fails if it is missing. */
export function xmllint(file: string): Promise<{ valid: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    execFile('xmllint', ['--noout', '--schema', SCHEMA, file], (err, stdout, stderr) => {
      if (err !== null && (err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('xmllint is not installed (Debian package libxml2-utils)'));
        return;
      }
      resolve({ valid: err === null, output: `${stdout}${stderr}` });
    });
  });
}

/** Adds a rule element the engine does not model (bar:WindowsLanguage, in the schema) to a fixture. */
export function withWindowsLanguage(xml: string): string {
  return xml.replace(
    /(<sdp:IsInstallable[^>]*>\s*<lar:And[^>]*>)/,
    '$1<bar:WindowsLanguage Language="en" xmlns:bar="http://schemas.microsoft.com/wsus/2005/04/CorporatePublishing/BaseApplicabilityRules.xsd" />',
  );
}
