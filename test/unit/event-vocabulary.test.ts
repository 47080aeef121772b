/**
 * The live page is plain browser JavaScript, out of the compiler's reach: every event it handles by name
 * must be one the agents can send (packages/serve/src/vocabulary.ts), so a renamed event cannot leave the
 * page waiting for a name nobody says.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { EVENT_NAMES } from '@ferry/serve';
import { repoPath } from '../helpers/repo.js';

const PAGE = readFileSync(repoPath('packages', 'serve', 'page', 'page.js'), 'utf8');

t.test('every event the live page handles by name is in the vocabulary', async (t) => {
  const handled = [...PAGE.matchAll(/case '([a-z-]+)':/g), ...PAGE.matchAll(/e\.event === '([a-z-]+)'/g)].map((m) => m[1]);
  t.ok(handled.length >= 10, `the page handles events by name (${handled.length} found)`);
  for (const name of handled) t.ok(EVENT_NAMES.includes(name!), `${name} is an event name`);
});

t.test('a name outside the vocabulary is caught', async (t) => {
  t.notOk(EVENT_NAMES.includes('pass-ended'), 'a misspelt name is not in the vocabulary');
  t.ok(EVENT_NAMES.includes('pass-end') && EVENT_NAMES.includes('attached') && EVENT_NAMES.includes('summary'), 'both agents\' names are');
});
