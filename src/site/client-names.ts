import { UpcatError, notFound } from '../errors.js';
import { hasControlChars } from '../validation.js';
import { normalizeClient, type ClientRow, type Q } from './client-repo.js';

/** How many candidates an ambiguous name lists in its error (enough to choose, not a dump). */
const SHOWN = 5;
/** Candidates read at most: enough to say "ambiguous" and show some. */
const READ = 50;
const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A client named as people name machines (issue 14 item 3): its full ID, a unique prefix of its
 * ID, or its name (any case). A full ID is taken as it is. Otherwise the records whose ID starts
 * with the text and those whose name is the text are the candidates, active and conflict records
 * before obsolete ones (a machine that registered again keeps its name, and its old record would
 * otherwise make that name ambiguous forever); one candidate is the answer, none is a 404 and
 * several a 400 that lists them, so the caller can give more of the ID.
 */
export async function resolveClient(q: Q, ref: string, field = 'client'): Promise<ClientRow> {
  const text = ref.trim();
  if (text.length === 0 || text.length > 255 || hasControlChars(text))
    throw new UpcatError(
      'invalid_input',
      `${field}: give a client ID, the start of one, or a client name`,
      { details: { field } },
    );
  const lower = text.toLowerCase();
  if (FULL_ID.test(lower)) {
    const row = (await q('clients').where({ client_id: lower }).first()) as
      Record<string, unknown> | undefined;
    if (row === undefined) throw notFound(`${field}: client ${lower} does not exist`, { field });
    return normalizeClient(row);
  }
  const query = q('clients').where((w) => {
    w.whereRaw('lower(name) = ?', [lower]);
    // Only hex digits and dashes can start an ID; `like` needs no escaping for them.
    if (/^[0-9a-f-]+$/.test(lower)) w.orWhere('client_id', 'like', `${lower}%`);
  });
  const rows = (
    (await query.orderBy('client_id').limit(READ)) as Array<Record<string, unknown>>
  ).map(normalizeClient);
  const live = rows.filter((r) => r.record_state !== 'obsolete');
  const candidates = live.length > 0 ? live : rows;
  const [only, ...more] = candidates;
  if (only === undefined)
    throw notFound(`${field}: no client has the ID or name "${text}"`, { field });
  if (more.length > 0) {
    const named = candidates
      .slice(0, SHOWN)
      .map((r) => `${r.client_id} (${r.name})`)
      .join(', ');
    throw new UpcatError(
      'invalid_input',
      `${field}: "${text}" names ${rows.length === READ ? 'many' : candidates.length} clients: ${named}${candidates.length > SHOWN ? ', ...' : ''}; give more of the ID`,
      { details: { field, candidates: candidates.slice(0, SHOWN).map((r) => r.client_id) } },
    );
  }
  return only;
}
