/**
 * Installer data of an InstallableItem onto a manifest handler (DESIGN.md §8):
 * cmd:CommandLineInstallerData -> commandLine, msi:MsiInstallerData -> msi. Other installers
 * (MSP, drivers, update.exe) have no handler in upcat yet and are reported.
 */
import type { XmlElement } from '../../rules/safe-xml.js';
import { attr, children, NS, qualifiedName, type Unmapped } from './xml-nodes.js';

export type HandlerJson = Record<string, unknown>;

export interface InstallerMapping {
  handler?: HandlerJson;
  /** The file the installer runs (Program or MsiFile), to check against the payload. */
  program?: string;
  unmapped: Unmapped[];
  /** Return codes listed more than once (the first entry is used). */
  duplicateReturnCodes?: number[];
}

export function mapInstaller(element: XmlElement, path: string): InstallerMapping {
  const at = `${path}.${element.local}`;
  if (element.uri === NS.cmd && element.local === 'CommandLineInstallerData') {
    return commandLine(element, at);
  }
  if (element.uri === NS.msi && element.local === 'MsiInstallerData') return msi(element);
  return {
    unmapped: [
      {
        name: qualifiedName(element),
        path: at,
        reason: 'installer type has no upcat handler (commandLine and msi only)',
      },
    ],
  };
}

function commandLine(element: XmlElement, at: string): InstallerMapping {
  const unmapped: Unmapped[] = [];
  const program = attr(element, 'Program') ?? '';
  const handler: HandlerJson = {
    type: 'commandLine',
    program,
    arguments: attr(element, 'Arguments') ?? '',
  };
  const codes: Array<{ code: number; result: string; reboot: boolean }> = [];
  const duplicates: number[] = [];
  children(element, NS.cmd, 'ReturnCode').forEach((rc, i) => {
    if (children(rc, NS.cmd, 'LocalizedDescription').length > 0) {
      unmapped.push({
        name: 'cmd:LocalizedDescription',
        path: `${at}.ReturnCode[${i}]`,
        reason: 'return code descriptions are not kept',
      });
    }
    const code = Number(attr(rc, 'Code'));
    // Vendors list a code twice (even with two results): the first entry wins, as a lookup
    // from the top of the list does, and the repeat is reported.
    if (codes.some((c) => c.code === code)) {
      duplicates.push(code);
      unmapped.push({
        name: 'cmd:ReturnCode',
        path: `${at}.ReturnCode[${i}]`,
        reason: `code ${code} is listed again (Result ${attr(rc, 'Result') ?? '?'}); the first entry is used`,
      });
      return;
    }
    codes.push({
      code,
      result: attr(rc, 'Result') ?? 'Failed',
      reboot: attr(rc, 'Reboot') === 'true' || attr(rc, 'Reboot') === '1',
    });
  });
  if (codes.length > 0) handler.returnCodes = codes;
  const defaultResult = attr(element, 'DefaultResult');
  if (defaultResult === 'Succeeded' || defaultResult === 'Failed') {
    handler.defaultResult = defaultResult;
  } else if (defaultResult !== undefined) {
    unmapped.push({
      name: 'DefaultResult',
      path: at,
      reason: `DefaultResult "${defaultResult}" is not a handler default (Succeeded, Failed); Failed is used`,
    });
  }
  const rebootByDefault = attr(element, 'RebootByDefault');
  if (rebootByDefault === 'true' || rebootByDefault === '1') {
    unmapped.push({
      name: 'RebootByDefault',
      path: at,
      reason: 'a reboot for unlisted return codes is not modelled',
    });
  }
  for (const c of element.children) {
    if (!(c.uri === NS.cmd && c.local === 'ReturnCode')) {
      unmapped.push({ name: qualifiedName(c), path: at, reason: 'not modelled' });
    }
  }
  return { handler, program, unmapped, duplicateReturnCodes: duplicates };
}

function msi(element: XmlElement): InstallerMapping {
  const handler: HandlerJson = { type: 'msi', productCode: attr(element, 'ProductCode') ?? '' };
  const install = attr(element, 'CommandLine');
  if (install !== undefined) handler.installCommandLine = install;
  const uninstall = attr(element, 'UninstallCommandLine');
  if (uninstall !== undefined) handler.uninstallCommandLine = uninstall;
  // The payload itself is the .msi, so the handler names no program (DESIGN.md §8).
  const program = attr(element, 'MsiFile');
  return program === undefined ? { handler, unmapped: [] } : { handler, program, unmapped: [] };
}
