/**
 * Who may use `ferry target`, tried as an attacker would on loopback: a web page opening /migrate and
 * /events, or reading /status, on a tokenless target (WebSockets have no CORS), a DNS-rebound Host, and
 * clients without the token on one that has it. ferry's own clients still get in.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { http, upgradeStatus } from '../helpers/http-probe.js';
import { spawnTarget } from '../helpers/target-client.js';

const TOKEN = 'target-access-test-token';
const auth = { Authorization: `Bearer ${TOKEN}` };

function tokenFile(dir: string): string {
  writeFileSync(join(dir, 'token'), TOKEN, { mode: 0o600 });
  return join(dir, 'token');
}

t.test('the target: pages are refused in every mode; with a token, /status and /events want it', async (t) => {
  const root = scratchDir(t);
  const open = await spawnTarget(t, join(root, 'open'));
  const evil = { Origin: 'http://evil.example' };
  t.equal(await upgradeStatus(`${open.url}/migrate`, evil), 403, 'a page cannot open /migrate on a tokenless loopback target');
  t.equal(await upgradeStatus(`${open.url}/events`, evil), 403, 'nor /events');
  const httpUrl = open.url.replace(/^ws/, 'http');
  t.equal((await http(`${httpUrl}/status`, 'GET', evil)).status, 403, 'nor read /status');
  t.equal((await http(`${httpUrl}/status`, 'GET', { Host: `evil.example:${new URL(httpUrl).port}` })).status, 403, 'a rebound Host is refused');
  t.equal(await upgradeStatus(`${open.url}/migrate`, { Host: `evil.example:${new URL(httpUrl).port}` }), 403, 'also on /migrate');
  t.equal((await http(`${httpUrl}/status`, 'GET', {})).status, 200, 'a loopback client without Origin is served');

  const guarded = await spawnTarget(t, join(root, 'guarded'), ['--token-file', tokenFile(root), '--allow-host', 'ferry-target.test']);
  const guardedHttp = guarded.url.replace(/^ws/, 'http');
  const named = { Host: `ferry-target.test:${new URL(guardedHttp).port}`, ...auth };
  t.equal(await upgradeStatus(`${guarded.url}/migrate`, named), 101, 'a source that dials the target by a name given with --allow-host gets in');
  t.equal((await http(`${guardedHttp}/status`, 'GET', {})).status, 401, '/status without the token');
  t.equal(await upgradeStatus(`${guarded.url}/events`, {}), 401, '/events without the token');
  t.equal(await upgradeStatus(`${guarded.url}/events`, auth), 101, '/events with it');
  t.equal(await upgradeStatus(`${guarded.url}/events`, { ...auth, ...evil }), 403, 'but never from a page');
  const { stdout } = await promisify(execFile)(process.execPath, [FERRY, 'status', guarded.url, '--json', '--token-file', join(root, 'token')]);
  t.match(JSON.parse(stdout), { role: 'target', migrations: [] }, 'ferry status reads it with --token-file');
});
