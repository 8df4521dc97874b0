/**
 * Writes a revision as a WSUS-style update metadata document with xml2js's Builder. Element order
 * follows Microsoft's own SDP-to-update transform and real WSUS metadata: UpdateIdentity,
 * Properties, LocalizedPropertiesCollection, Relationships, ApplicabilityRules, Files,
 * HandlerSpecificData. The output is deterministic: the same revision gives the same bytes, so
 * the document's hash can stand for the revision in TUF targets metadata.
 */
import { Builder } from 'xml2js';
import { applicabilityRulesToXml } from '../rules/index.js';
import type { Handler, ReturnCode } from './manifest.js';
import {
  CMD_NS,
  MSP_NS,
  parseRevisionDocument,
  UPCAT_NS,
  UPDATE_NS,
  XSI_NS,
  type RevisionDocument,
  type RevisionFile,
} from './update-xml-model.js';

const builder = new Builder({
  headless: false,
  xmldec: { version: '1.0', encoding: 'UTF-8' },
  renderOpts: { pretty: false },
});

/** Stands in for the rules, which the rule engine writes as a string of its own. */
const RULES_PLACEHOLDER = '<upd:ApplicabilityRules/>';

/** The update metadata document of one revision. Throws invalid_input for an invalid revision. */
export function revisionToXml(revision: RevisionDocument): string {
  const doc = parseRevisionDocument(revision);
  const hasRules = doc.isInstalled !== undefined || doc.isInstallable !== undefined;
  const handler = handlerPart(doc.handler);
  const root: Record<string, unknown> = {
    $: {
      'xmlns:upd': UPDATE_NS,
      [`xmlns:${handler.prefix}`]: handler.uri,
      'xmlns:xsi': XSI_NS,
      'xmlns:upcat': UPCAT_NS,
    },
    'upd:UpdateIdentity': { $: { UpdateID: doc.updateId, RevisionNumber: doc.revisionNumber } },
    'upd:Properties': properties(doc),
    'upd:LocalizedPropertiesCollection': { 'upd:LocalizedProperties': localized(doc) },
  };
  const relationships = relationshipsOf(doc);
  // An array inside an array: one element whose children keep their order.
  if (relationships.length > 0) root['upd:Relationships'] = [relationships];
  if (hasRules) root['upd:ApplicabilityRules'] = {};
  if (doc.files.length > 0) {
    root['upd:Files'] = { 'upd:File': doc.files.map((f) => file(f, doc.created)) };
  }
  root['upd:HandlerSpecificData'] = handler.data;
  const xml = builder.buildObject({ 'upd:Update': root });
  if (!hasRules) return xml;
  // Text and attribute values are escaped, so the placeholder can only be the element above.
  const rules = applicabilityRulesToXml(
    { isInstalled: doc.isInstalled, isInstallable: doc.isInstallable },
    { family: 'update' },
  );
  return xml.replace(RULES_PLACEHOLDER, rules);
}

/**
 * Properties: CreationDate, UpdateType and Handler as WSUS writes them; the reboot and uninstall
 * behaviours are derived from the handler (so the reader ignores them); product, classification
 * and version have no WSUS attribute (WSUS names them by category GUID) and go in upcat's namespace.
 */
function properties(doc: RevisionDocument): Record<string, unknown> {
  const reboots = doc.handler.returnCodes.some((c) => c.reboot);
  const derived = reboots ? 'CanRequestReboot' : 'NeverReboots';
  const behavior = { $: { RebootBehavior: doc.rebootBehavior ?? derived } };
  const canUninstall = doc.handler.type === 'msi' || doc.handler.uninstall !== undefined;
  const props: Record<string, unknown> = {
    $: {
      DefaultPropertiesLanguage: 'en',
      UpdateType: 'Software',
      Handler: doc.handler.type === 'msi' ? MSP_NS : CMD_NS,
      CreationDate: doc.created,
      'upcat:Product': doc.product,
      'upcat:Classification': doc.classification,
      'upcat:Version': doc.version,
    },
    'upd:InstallationBehavior': behavior,
  };
  if (canUninstall) props['upd:UninstallationBehavior'] = behavior;
  return props;
}

function localized(doc: RevisionDocument): Record<string, unknown> {
  const props: Record<string, unknown> = { 'upd:Language': 'en', 'upd:Title': doc.title };
  if (doc.description !== '') props['upd:Description'] = doc.description;
  return props;
}

type Node = Record<string, unknown>;

const identity = (updateId: string): Node => ({
  'upd:UpdateIdentity': { $: { UpdateID: updateId } },
});

/**
 * MS-WUSP 3.1.1.1 reads prerequisites from Relationships/Prerequisites: a bare UpdateIdentity
 * must be installed; of the members of an AtLeastOne, one must be. Children only, as an ordered
 * array, because the two kinds interleave.
 */
function relationshipsOf(doc: RevisionDocument): Node[] {
  const out: Node[] = [];
  if (doc.supersedes.length > 0) {
    out.push({ 'upd:SupersededUpdates': doc.supersedes.map(identity) });
  }
  if (doc.prerequisites.length > 0) {
    const groups = doc.prerequisites.map((group) =>
      group.length === 1 ? identity(group[0] as string) : { 'upd:AtLeastOne': group.map(identity) },
    );
    out.push({ 'upd:Prerequisites': groups });
  }
  if (doc.bundles.length > 0) out.push({ 'upd:BundledUpdates': doc.bundles.map(identity) });
  return out;
}

/**
 * File as in MS-WUSP update metadata: Digest is the base64 SHA-1 (DigestAlgorithm="SHA1"), and an
 * AdditionalDigest child carries the base64 SHA-256. Modified is required by the schema; upcat has
 * no file times, so it writes the revision's creation date (and the reader ignores it).
 */
function file(f: RevisionFile, created: string): Node {
  return {
    $: {
      FileName: f.name,
      Digest: Buffer.from(f.sha1, 'hex').toString('base64'),
      DigestAlgorithm: 'SHA1',
      Size: f.size,
      Modified: created,
      'upcat:Kind': f.kind,
    },
    'upd:AdditionalDigest': {
      $: { Algorithm: 'SHA256' },
      _: Buffer.from(f.sha256, 'hex').toString('base64'),
    },
  };
}

interface HandlerPart {
  prefix: 'cmd' | 'msp';
  uri: string;
  data: Node;
}

/**
 * HandlerSpecificData, typed with xsi:type as in full update documents:
 * - cmd:CommandLineInstallation holds cmd:InstallCommand (Program, Arguments, DefaultResult,
 *   RebootByDefault, cmd:ReturnCode with Code / Result / Reboot), as in real WSUS metadata; the
 *   WSUS command-line handler cannot uninstall, so upcat's uninstall command is upcat:UninstallCommand.
 * - msp:WindowsInstallerApp holds msp:MsiData (ProductCode, MsiFile, CommandLine,
 *   UninstallCommandLine), which Microsoft's transform makes from an SDP's MsiInstallerData. MSI
 *   return codes are fixed in WSUS; upcat's configurable ones are upcat:ReturnCode children.
 */
function handlerPart(handler: Handler): HandlerPart {
  if (handler.type === 'commandLine') {
    const install: Node = {
      $: {
        Program: handler.program,
        ...(handler.arguments === '' ? {} : { Arguments: handler.arguments }),
        DefaultResult: handler.defaultResult,
        RebootByDefault: 'false',
      },
    };
    if (handler.returnCodes.length > 0) {
      install['cmd:ReturnCode'] = handler.returnCodes.map((c) => returnCode(c));
    }
    const data: Node = {
      $: { 'xsi:type': 'cmd:CommandLineInstallation' },
      'cmd:InstallCommand': install,
    };
    if (handler.uninstall !== undefined) {
      const { program, arguments: args } = handler.uninstall;
      data['upcat:UninstallCommand'] = {
        $: { Program: program, ...(args === '' ? {} : { Arguments: args }) },
      };
    }
    return { prefix: 'cmd', uri: CMD_NS, data };
  }
  const msi: Node = {
    $: {
      ProductCode: handler.productCode,
      ...(handler.program === undefined ? {} : { MsiFile: handler.program }),
      ...(handler.installCommandLine === '' ? {} : { CommandLine: handler.installCommandLine }),
      ...(handler.uninstallCommandLine === ''
        ? {}
        : { UninstallCommandLine: handler.uninstallCommandLine }),
      'upcat:DefaultResult': handler.defaultResult,
    },
  };
  if (handler.returnCodes.length > 0) {
    msi['upcat:ReturnCode'] = handler.returnCodes.map((c) => returnCode(c));
  }
  return {
    prefix: 'msp',
    uri: MSP_NS,
    data: { $: { 'xsi:type': 'msp:WindowsInstallerApp' }, 'msp:MsiData': msi },
  };
}

function returnCode(c: ReturnCode): Node {
  return { $: { Code: c.code, Result: c.result, Reboot: c.reboot ? 'true' : 'false' } };
}
