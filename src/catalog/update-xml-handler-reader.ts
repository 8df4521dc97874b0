/**
 * Reads HandlerSpecificData of an update metadata document into a Handler (see the writer for the
 * element names and where they come from). Every error names the element or attribute at fault.
 */
import { invalidInput } from '../errors.js';
import type { XmlElement } from '../rules/safe-xml.js';
import { handlerSchema, type Handler } from './manifest.js';
import { attributes, children, one, optional, quote } from './update-xml-dom.js';
import { checkField, CMD_NS, MSP_NS, UPCAT_NS } from './update-xml-model.js';

/**
 * HandlerSpecificData: the handler is known by its child element's namespace (cmd:InstallCommand
 * or msp:MsiData), not by the xsi:type QName, whose prefix would need the in-scope declarations.
 */
export function readHandler(el: XmlElement, at: string): Handler {
  attributes(el, at, ['xsi:type', 'type']);
  const install = el.children.find((c) => c.uri === CMD_NS && c.local === 'InstallCommand');
  const msi = el.children.some((c) => c.uri === MSP_NS && c.local === 'MsiData');
  if (install === undefined && !msi) {
    throw invalidInput(`${at}: missing cmd:InstallCommand (${CMD_NS}) or msp:MsiData (${MSP_NS})`, {
      path: at,
    });
  }
  const raw = install === undefined ? readMsi(el, at) : readCommandLine(el, install, at);
  // An attribute that is absent is a key that is absent, so that schema defaults apply.
  const present = Object.entries(raw).filter(([, v]) => v !== undefined);
  return checkField(handlerSchema, Object.fromEntries(present), at);
}

function readCommandLine(el: XmlElement, install: XmlElement, at: string): Record<string, unknown> {
  const parts = children(el, at, {
    InstallCommand: [CMD_NS, 1, 1],
    UninstallCommand: [UPCAT_NS, 0, 1],
  });
  const here = `${at}.InstallCommand`;
  const a = attributes(
    install,
    here,
    ['Program', 'Arguments', 'DefaultResult', 'RebootByDefault'],
    ['Program'],
  );
  // upcat has no reboot-by-default; a document asking for one cannot be kept faithfully.
  if (a.RebootByDefault !== undefined && !['false', '0'].includes(a.RebootByDefault)) {
    throw invalidInput(`${here}@RebootByDefault: only false is supported`, { path: here });
  }
  children(install, here, { ReturnCode: [CMD_NS, 0, Infinity] });
  const handler: Record<string, unknown> = {
    type: 'commandLine',
    program: a.Program,
    arguments: a.Arguments,
    returnCodes: install.children.map((c, i) => readReturnCode(c, `${here}.ReturnCode[${i}]`)),
    defaultResult: a.DefaultResult,
  };
  const uninstall = optional(parts, 'UninstallCommand');
  if (uninstall !== undefined) {
    const u = attributes(
      uninstall,
      `${at}.UninstallCommand`,
      ['Program', 'Arguments'],
      ['Program'],
    );
    handler.uninstall = { program: u.Program, arguments: u.Arguments ?? '' };
  }
  return handler;
}

function readMsi(el: XmlElement, at: string): Record<string, unknown> {
  const data = one(children(el, at, { MsiData: [MSP_NS, 1, 1] }), 'MsiData');
  const here = `${at}.MsiData`;
  const a = attributes(
    data,
    here,
    ['ProductCode', 'MsiFile', 'CommandLine', 'UninstallCommandLine', 'upcat:DefaultResult'],
    ['ProductCode'],
  );
  children(data, here, { ReturnCode: [UPCAT_NS, 0, Infinity] });
  return {
    type: 'msi',
    productCode: a.ProductCode,
    program: a.MsiFile,
    installCommandLine: a.CommandLine,
    uninstallCommandLine: a.UninstallCommandLine,
    returnCodes: data.children.map((c, i) => readReturnCode(c, `${here}.ReturnCode[${i}]`)),
    defaultResult: a['upcat:DefaultResult'],
  };
}

function readReturnCode(el: XmlElement, at: string): Record<string, unknown> {
  const a = attributes(el, at, ['Code', 'Result', 'Reboot'], ['Code', 'Result']);
  children(el, at, {});
  const reboot = a.Reboot ?? 'false';
  if (!['true', 'false', '1', '0'].includes(reboot)) {
    throw invalidInput(`${at}@Reboot: must be true or false, got ${quote(reboot)}`, {
      path: at,
    });
  }
  const code = a.Code ?? '';
  if (!/^-?\d{1,10}$/u.test(code)) {
    throw invalidInput(`${at}@Code: must be an integer, got ${quote(code)}`, { path: at });
  }
  return { code: Number(code), result: a.Result, reboot: reboot === 'true' || reboot === '1' };
}
