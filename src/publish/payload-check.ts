import { invalidInput } from '../errors.js';
import type { Handler } from '../catalog/manifest.js';
import { checkRelativePath } from './safe-path.js';
import { inspectZip } from './zip-inspect.js';

export type PayloadKind = 'file' | 'package';

export interface PayloadLimits {
  maxPackageEntries: number;
  maxManifestBytes: number;
}

/**
 * Decides what a staged payload is and checks that the handler can run from it: a package made
 * by `upcat package` must contain the handler's program; any other file must be the program.
 * Package entries are checked for path traversal by the zip inspection.
 */
export async function checkPayload(
  stagedPath: string,
  fileName: string,
  handler: Handler,
  limits: PayloadLimits,
): Promise<PayloadKind> {
  checkRelativePath(fileName, 'file name');
  if (fileName.includes('/')) throw invalidInput(`file name: "${fileName}" must not contain "/"`);

  const zip = await inspectZip(stagedPath, {
    maxEntries: limits.maxPackageEntries,
    maxManifestBytes: limits.maxManifestBytes,
  });
  const kind: PayloadKind = zip.packageManifest === undefined ? 'file' : 'package';
  const contents = new Set(zip.packageManifest?.files.map((f) => f.path) ?? []);

  const requireProgram = (program: string, field: string): void => {
    checkRelativePath(program, field);
    if (kind === 'package') {
      if (!contents.has(program)) {
        throw invalidInput(`${field}: "${program}" is not a file of the package`, { field });
      }
    } else if (program !== fileName) {
      throw invalidInput(
        `${field}: "${program}" must name the published file "${fileName}" (it is not a package)`,
        { field },
      );
    }
  };

  if (handler.type === 'commandLine') {
    requireProgram(handler.program, 'handler.program');
    if (handler.uninstall !== undefined) {
      requireProgram(handler.uninstall.program, 'handler.uninstall.program');
    }
  } else if (handler.program !== undefined) {
    requireProgram(handler.program, 'handler.program');
  } else if (kind === 'package') {
    throw invalidInput(
      'handler.program: required for an msi handler when the payload is a package',
    );
  }
  return kind;
}
