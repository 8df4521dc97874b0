import type { DeclineResult } from '../../publish/decline-service.js';
import type { Page } from '../../server/paging.js';
import type { RevisionDetail, UpdateDetail } from '../../site/update-detail.js';
import type { UpdateSummary } from '../../site/update-query.js';
import { table } from './table.js';

/** The human forms of `upcat updates ...` (the JSON forms are the service's answers as they are). */

export function listText(page: Page<UpdateSummary>): string {
  if (page.items.length === 0) return 'no updates match';
  const rows = table(
    ['UPDATE', 'TITLE', 'PRODUCT', 'CLASSIFICATION', 'VERSION', 'REV', 'STATUS', 'PUBLISHED'],
    page.items.map((u) => [
      u.updateId,
      u.title,
      u.product,
      u.classification,
      u.version,
      u.revision,
      u.status,
      u.published,
    ]),
  );
  return page.next === null
    ? rows
    : `${rows}\n(more: run again with --all, or with --cursor ${page.next})`;
}

export function detailText(d: UpdateDetail): string {
  const lines = [
    `update          ${d.updateId}`,
    `title           ${d.title}`,
    `product         ${d.product}`,
    `classification  ${d.classification}`,
    `status          ${statusLine(d)}`,
    `published       ${d.published} (first ${d.firstPublished})`,
  ];
  const named: Array<[string, string[]]> = [
    ['superseded by', d.namedBy.supersedes],
    ['bundled by', d.namedBy.bundles],
    ['required by', d.namedBy.prerequisite],
  ];
  for (const [label, ids] of named)
    if (ids.length > 0) lines.push(`${label.padEnd(16)}${ids.join(', ')}`);
  for (const r of [...d.revisions].reverse()) lines.push('', ...revisionLines(r));
  lines.push('', 'deployments');
  lines.push(
    d.deployments.length === 0
      ? '  none'
      : indent(
          table(
            ['GROUP', 'ACTION', 'DEADLINE', 'PERCENT', 'OFFERED'],
            d.deployments.map((x) => [
              x.group,
              x.action,
              x.deadline ?? '-',
              `${x.percent}%`,
              x.offered ? 'yes' : 'no',
            ]),
          ),
        ),
  );
  return lines.join('\n');
}

function statusLine(d: UpdateDetail): string {
  if (d.status === 'superseded' && d.supersededBy !== null)
    return `superseded (by ${d.supersededBy})`;
  if (d.status === 'declined' && d.declinedAt !== null) return `declined (${d.declinedAt})`;
  if (d.status === 'expired' && d.expiredAt !== null) return `expired (${d.expiredAt})`;
  return d.status;
}

function revisionLines(r: RevisionDetail): string[] {
  const lines = [
    `revision ${r.revision}: ${r.title}`,
    `  version ${r.version}, published ${r.published}, catalog version ${r.catalogVersion}`,
    indent(
      table(
        ['FILE', 'SIZE', 'SHA256', 'SHA1'],
        r.files.map((f) => [f.name, f.size, f.sha256, f.sha1]),
      ),
    ),
    `  is installable  ${ruleText(r.isInstallable)}`,
    `  is installed    ${ruleText(r.isInstalled)}`,
  ];
  if (r.prerequisites.length > 0)
    lines.push(
      `  prerequisites   ${r.prerequisites.map((g) => (g.length > 1 ? `(${g.join(' or ')})` : g.join(''))).join(' and ')}`,
    );
  if (r.supersedes.length > 0) lines.push(`  supersedes      ${r.supersedes.join(', ')}`);
  if (r.bundles.length > 0) lines.push(`  bundles         ${r.bundles.join(', ')}`);
  return lines;
}

/** A rule tree on one line, as its JSON (docs/MANIFEST.md): readable and exact. */
function ruleText(rule: unknown): string {
  return rule === null ? '-' : typeof rule === 'string' ? rule : JSON.stringify(rule);
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function declineText(r: DeclineResult): string {
  const groups = r.deployments.length === 0 ? '' : ` (deployed to ${r.deployments.join(', ')})`;
  if (!r.changed)
    return `update ${r.updateId} was already ${r.state === 'declined' ? 'declined' : 'not declined'}`;
  return r.state === 'declined'
    ? `declined update ${r.updateId} (catalog version ${r.catalogVersion}): no longer offered${groups === '' ? '' : `; its deployments stay stored but offer nothing${groups}`}`
    : `undeclined update ${r.updateId} (catalog version ${r.catalogVersion}): offered again${groups}`;
}
