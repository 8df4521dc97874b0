import { execFile } from 'node:child_process';
import path from 'node:path';
import { FIXTURES } from '../../../bench/fixtures-gen.js';

// One list of the shared SDP fixtures (../shared/fixtures/sdp), shared with the benchmarks.
export { DELL_DRIVER, DELL_MSI, FIXTURES, fixture } from '../../../bench/fixtures-gen.js';
export const SCHEMA = path.join(FIXTURES, 'schema', 'SoftwareDistributionPackage.xsd');

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
