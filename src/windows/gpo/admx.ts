/**
 * upcat.admx and en-US/upcat.adml: the administrative template for upcat's own policy
 * (upcat-policy.ts), under its own target namespace `Upcat.Policies` and its own top-level
 * category, so it never redefines a built-in policy. Both files come from one table, so every
 * `$(string.X)` and `$(presentation.Y)` the ADMX names exists in the ADML and every presentation
 * control's refId is an element id. Structure: [MS-GPREG] section 7 (ADMX schemas); the
 * documents' namespace is the one real files use,
 * http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions.
 */
import { UPCAT_POLICY_KEY, UPCAT_PROPERTIES_KEY, UPCAT_VALUES } from './upcat-policy.js';

const NS = 'http://schemas.microsoft.com/GroupPolicy/2006/07/PolicyDefinitions';
const CATEGORY = 'Upcat';
const SUPPORTED = 'SUPPORTED_UpcatAgent';

type Element =
  | {
      kind: 'text';
      id: string;
      valueName: string;
      label: string;
      required?: boolean;
      maxLength?: number;
    }
  | { kind: 'list'; id: string; key: string; label: string };

interface PolicyDef {
  name: string;
  displayName: string;
  explain: string;
  elements: Element[];
}

const POLICIES: readonly PolicyDef[] = [
  {
    name: 'SiteAssignment',
    displayName: 'Assign the upcat agent to a site',
    explain:
      "Assigns upcat's agent to a site, as Configuration Manager's site assignment does.\n\n" +
      'Site code: the three-character code of the site (upcat.config.json site.code). The agent refuses a site whose code differs.\n\n' +
      "Server URL: the site's base URL, such as http://upcat.example.com:8530. When it is empty the agent finds the site itself (agent.json, UPCAT_SERVER, then the DNS SRV record _upcat._tcp).\n\n" +
      "Precedence: the agent's command line, then this policy, then the agent.json file, then what the site publishes.",
    elements: [
      {
        kind: 'text',
        id: 'SiteCode',
        valueName: UPCAT_VALUES.siteCode,
        label: 'Site code',
        maxLength: 3,
      },
      {
        kind: 'text',
        id: 'ServerUrl',
        valueName: UPCAT_VALUES.serverUrl,
        label: 'Server URL',
        maxLength: 2048,
      },
    ],
  },
  {
    name: 'FallbackStatusPoint',
    displayName: 'Specify the fallback status point',
    explain:
      'The base URL of the fallback status point, where the agent sends state messages when the site refuses it or cannot be reached (for example http://fsp.example.com:8530).\n\n' +
      "The agent's --fallback-status-point option beats this policy; this policy beats agent.json.",
    elements: [
      {
        kind: 'text',
        id: 'FallbackStatusPoint',
        valueName: UPCAT_VALUES.fallbackStatusPoint,
        label: 'Fallback status point URL',
        required: true,
        maxLength: 2048,
      },
    ],
  },
  {
    name: 'InstallationProperties',
    displayName: 'Provision installation properties',
    explain:
      'Installation properties that installers receive as $(Name) in their command lines, as Configuration Manager\'s "provision client installation properties" does. Enter one property per row: the value name is the property name, the value its text.\n\n' +
      "A --property option on the agent's command line beats this policy; this policy beats the agent.json file, which beats the properties the site publishes.",
    elements: [
      {
        kind: 'list',
        id: 'Properties',
        key: UPCAT_PROPERTIES_KEY,
        label: 'Installation properties (name and value)',
      },
    ],
  },
];

const STRINGS: Readonly<Record<string, string>> = {
  [CATEGORY]: 'upcat',
  [SUPPORTED]: 'Windows 10, Windows Server 2016 and later, with the upcat agent installed',
  ...Object.fromEntries(
    POLICIES.flatMap((p) => [
      [p.name, p.displayName],
      [`${p.name}_Help`, p.explain],
    ]),
  ),
};

export function renderAdmx(): string {
  const policies = POLICIES.map(
    (p) =>
      `    <policy name="${p.name}" class="Machine" displayName="$(string.${p.name})" explainText="$(string.${p.name}_Help)" presentation="$(presentation.${p.name})" key="${xml(UPCAT_POLICY_KEY)}">\n` +
      `      <parentCategory ref="${CATEGORY}" />\n` +
      `      <supportedOn ref="${SUPPORTED}" />\n` +
      `      <elements>\n${p.elements.map((e) => `        ${admxElement(e)}\n`).join('')}      </elements>\n` +
      `    </policy>\n`,
  ).join('');
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n` +
    `<policyDefinitions xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="${NS}">\n` +
    `  <policyNamespaces>\n    <target prefix="upcat" namespace="Upcat.Policies" />\n  </policyNamespaces>\n` +
    `  <resources minRequiredRevision="1.0" />\n` +
    `  <supportedOn>\n    <definitions>\n      <definition name="${SUPPORTED}" displayName="$(string.${SUPPORTED})" />\n    </definitions>\n  </supportedOn>\n` +
    `  <categories>\n    <category name="${CATEGORY}" displayName="$(string.${CATEGORY})" />\n  </categories>\n` +
    `  <policies>\n${policies}  </policies>\n` +
    `</policyDefinitions>\n`
  );
}

export function renderAdml(): string {
  const strings = Object.entries(STRINGS)
    .map(([id, text]) => `      <string id="${id}">${xml(text)}</string>\n`)
    .join('');
  const presentations = POLICIES.map(
    (p) =>
      `      <presentation id="${p.name}">\n${p.elements.map((e) => `        ${admlControl(e)}\n`).join('')}      </presentation>\n`,
  ).join('');
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n` +
    `<policyDefinitionResources xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" revision="1.0" schemaVersion="1.0" xmlns="${NS}">\n` +
    `  <displayName>upcat</displayName>\n` +
    `  <description>Policy for the upcat agent: site assignment and installation properties</description>\n` +
    `  <resources>\n` +
    `    <stringTable>\n${strings}    </stringTable>\n` +
    `    <presentationTable>\n${presentations}    </presentationTable>\n` +
    `  </resources>\n` +
    `</policyDefinitionResources>\n`
  );
}

function admxElement(e: Element): string {
  switch (e.kind) {
    case 'text':
      return `<text id="${e.id}" valueName="${e.valueName}"${e.required === true ? ' required="true"' : ''}${e.maxLength === undefined ? '' : ` maxLength="${e.maxLength}"`} />`;
    case 'list':
      // explicitValue: the editor asks for each value's name and its data.
      return `<list id="${e.id}" key="${xml(e.key)}" explicitValue="true" />`;
  }
}

function admlControl(e: Element): string {
  switch (e.kind) {
    case 'text':
      return `<textBox refId="${e.id}"><label>${xml(e.label)}</label></textBox>`;
    case 'list':
      return `<listBox refId="${e.id}">${xml(e.label)}</listBox>`;
  }
}

const xml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
