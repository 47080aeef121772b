/**
 * Web pages cannot drive `ferry source`: a cross-site "simple" POST of a pause command, with or without
 * the token, and a DNS-rebound page (a foreign Host) are refused; nothing starts.
 */
import t from 'tap';
import { http, upgradeStatus } from '../helpers/http-probe.js';
import { SOURCE_AUTH as auth, sourceUnderAttack } from '../helpers/source-daemon.js';

t.test('a web page cannot drive ferry source: the cross-site simple POST', async (t) => {
  const { url, body, noMigration } = await sourceUnderAttack(t);
  const evil = { Origin: 'http://evil.example', 'Content-Type': 'text/plain' };
  t.equal((await http(`${url}/migrations`, 'POST', evil, body)).status, 403, 'the cross-site request: refused');
  const withToken = await http(`${url}/migrations`, 'POST', { ...evil, ...auth }, body);
  t.equal(withToken.status, 403, 'a foreign Origin is refused even with the token');
  t.match(JSON.parse(withToken.body), { error: /other origins are refused/ });
  const plain = await http(`${url}/migrations`, 'POST', { 'Content-Type': 'text/plain', ...auth }, body);
  t.equal(plain.status, 415, 'text/plain (what a page may send without asking) is refused');
  t.match(JSON.parse(plain.body), { error: /application\/json/ });
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, { Origin: 'http://evil.example', ...auth }), 403, '/events from a page is refused');
  t.equal((await http(`${url}/status`, 'GET', { Origin: 'http://evil.example', ...auth })).status, 403, '/status from a page is refused');
  await noMigration();
});

t.test('DNS rebinding: a foreign Host is refused, an allowed name is not', async (t) => {
  const { url, body, noMigration, port } = await sourceUnderAttack(t);
  const rebound = { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}`, 'Content-Type': 'application/json' };
  const post = await http(`${url}/migrations`, 'POST', rebound, body);
  t.equal(post.status, 403, 'the rebound page, same-origin to itself, is refused');
  t.match(JSON.parse(post.body), { error: /Host evil\.example is not an IP address.*--allow-host evil\.example/ });
  t.equal((await http(`${url}/status`, 'GET', { Host: `evil.example:${port}`, ...auth })).status, 403, 'a same-origin GET (no Origin) with a foreign Host too');
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, { Host: `evil.example:${port}`, ...auth }), 403, 'and /events');
  t.equal((await http(`${url}/status`, 'GET', { Host: `ferry-source.test:${port}`, ...auth })).status, 200, 'a name given with --allow-host works');
  await noMigration();
});
