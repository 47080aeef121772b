/**
 * `ferry source` always wants its token: requests without it are refused on every route, the daemon will
 * not start without a token file only its user can read, a second local user (uid 65534) can neither
 * read the token nor drive the daemon, and `ferry status --token-file` still reads it.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { http, upgradeStatus } from '../helpers/http-probe.js';
import { sourceUnderAttack, tokenFile } from '../helpers/source-daemon.js';

t.test('without the token: refused on every route, and the daemon will not start without one', async (t) => {
  const { url, body, noMigration } = await sourceUnderAttack(t);
  const json = { 'Content-Type': 'application/json' };
  t.equal((await http(`${url}/migrations`, 'POST', json, body)).status, 401, 'POST /migrations from loopback without the token');
  t.equal((await http(`${url}/migrations`, 'POST', { ...json, Authorization: 'Bearer guess' }, body)).status, 401, 'a wrong token');
  t.equal((await http(`${url}/status`, 'GET', {})).status, 401, '/status');
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, {}), 401, '/events');
  await noMigration();

  const dir = scratchDir(t);
  const run = promisify(execFile);
  const noToken = await run(process.execPath, [FERRY, 'source', '--listen', '127.0.0.1:0']).catch((error: { code: number; stderr: string }) => error);
  t.match(noToken, { code: 2, stderr: /--token-file F is required/ }, 'ferry source without --token-file: usage error');
  const shared = tokenFile(dir, 0o644);
  const readable = await run(process.execPath, [FERRY, 'source', '--listen', '127.0.0.1:0', '--token-file', shared]).catch((error: { code: number; stderr: string }) => error);
  t.match(readable, { code: 2, stderr: /can be read or written by others \(mode 644\): chmod 600/ }, 'a token file others can read: usage error');
  const link = join(dir, 'link-to-token');
  symlinkSync(shared, link);
  const linked = await run(process.execPath, [FERRY, 'source', '--listen', '127.0.0.1:0', '--token-file', link]).catch((error: { code: number; stderr: string }) => error);
  t.match(linked, { code: 2, stderr: /can be read or written by others \(mode 644\)/ }, 'a link to such a file: the file it reads is the one checked');
});

t.test('a second local user (uid 65534) can neither read the token nor drive the daemon', { skip: process.getuid?.() === 0 ? false : 'needs root to run a child as uid 65534' }, async (t) => {
  const { token, url, body, noMigration } = await sourceUnderAttack(t);
  const attempt = `
    const { readFileSync } = require('node:fs');
    const [token, url, body] = process.argv.slice(1);
    let read = 'read';
    try { readFileSync(token); } catch (error) { read = error.code; }
    fetch(url + '/migrations', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      .then((res) => console.log(JSON.stringify({ uid: process.getuid(), read, status: res.status })));`;
  // Another user's plain node, outside this checkout (which may be closed to others): `env -u` drops the
  // NODE_OPTIONS the test runner adds to every child, whose loader lives in the checkout.
  const { stdout } = await promisify(execFile)('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '-e', attempt, token, url, body], { uid: 65534, gid: 65534, cwd: '/' });
  t.same(JSON.parse(stdout), { uid: 65534, read: 'EACCES', status: 401 }, 'the token file is out of reach and the request is refused');
  await noMigration();
});

t.test("ferry status with --token-file reads the source; without it, it says why", async (t) => {
  const { token, url } = await sourceUnderAttack(t);
  const run = promisify(execFile);
  const { stdout: json } = await run(process.execPath, [FERRY, 'status', url, '--json', '--token-file', token]);
  t.same(JSON.parse(json), { role: 'source', migrations: [] }, '--json');
  const { stdout: text } = await run(process.execPath, [FERRY, 'status', url, '--token-file', token]);
  t.match(text, /^source: 0 migration\(s\)/, 'the table');
  const refused = await run(process.execPath, [FERRY, 'status', url]).catch((error: { code: number; stderr: string }) => error);
  t.match(refused, { code: 1, stderr: /HTTP 401.*bearer token/ });
});
