/**
 * Who may drive the daemons, tried as an attacker would on loopback: a web page's cross-site "simple"
 * POST, a DNS-rebound page (a foreign Host), a client without the token, a second local user (uid 65534),
 * a page opening WebSockets to a tokenless target. None starts anything; ferry's own clients with the
 * token still work.
 */
import t, { type Test } from 'tap';
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { WebSocket } from 'ws';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { spawnTarget } from '../helpers/target-client.js';

const TOKEN = 'daemon-access-test-token';

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** A raw HTTP request, so that Host and Origin can be whatever an attacker's browser would send. */
function http(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  const { hostname, port, pathname } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path: pathname, method, headers, setHost: !('Host' in headers) }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Opens a WebSocket and resolves with the HTTP status of its answer: 101 when it opened. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => { ws.terminate(); resolve(101); });
    ws.once('unexpected-response', (_req, res) => { ws.terminate(); resolve(res.statusCode ?? 0); });
    ws.once('error', reject);
  });
}

async function source(t: Test, args: string[]): Promise<string> {
  const child = spawn(process.execPath, [FERRY, 'source', '--listen', '127.0.0.1:0', '--log-level', 'silent', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as { event: string; url: string };
      if (event.event === 'listening') resolve(event.url);
    });
    child.once('exit', (code) => reject(new Error(`ferry source exited ${code}`)));
  });
}

function tokenFile(dir: string, mode = 0o600): string {
  const path = join(dir, 'token');
  writeFileSync(path, `${TOKEN}\n`);
  chmodSync(path, mode);
  return path;
}

async function sourceWithToken(t: Test) {
  const dir = scratchDir(t);
  const token = tokenFile(dir);
  const url = await source(t, ['--token-file', token, '--allow-host', 'ferry-source.test']);
  const marker = join(dir, 'pause-ran');
  // What an attacker would ask for: a command run as the daemon's user, and a file it may read.
  const body = JSON.stringify({ to: 'ws://127.0.0.1:9', image: [`ram=${token}`], state: ['x=/etc/shadow'], 'pause-cmd': `touch ${marker}` });
  const noMigration = async (): Promise<void> => {
    const status = await http(`${url}/status`, 'GET', { Authorization: `Bearer ${TOKEN}` });
    t.same(JSON.parse(status.body), { role: 'source', migrations: [] }, 'no migration was started');
    t.notOk(existsSync(marker), 'the pause command never ran');
  };
  return { dir, token, url, body, noMigration, port: new URL(url).port };
}

const auth = { Authorization: `Bearer ${TOKEN}` };

t.test('a web page cannot drive ferry source: the cross-site simple POST', async (t) => {
  const { url, body, noMigration } = await sourceWithToken(t);
  const evil = { Origin: 'http://evil.example', 'Content-Type': 'text/plain' };
  t.equal((await http(`${url}/migrations`, 'POST', evil, body)).status, 403, 'the request of the report: refused');
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
  const { url, body, noMigration, port } = await sourceWithToken(t);
  const rebound = { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}`, 'Content-Type': 'application/json' };
  const post = await http(`${url}/migrations`, 'POST', rebound, body);
  t.equal(post.status, 403, 'the rebound page, same-origin to itself, is refused');
  t.match(JSON.parse(post.body), { error: /Host evil\.example is not an IP address.*--allow-host evil\.example/ });
  t.equal((await http(`${url}/status`, 'GET', { Host: `evil.example:${port}`, ...auth })).status, 403, 'a same-origin GET (no Origin) with a foreign Host too');
  t.equal(await upgradeStatus(`${url.replace(/^http/, 'ws')}/events`, { Host: `evil.example:${port}`, ...auth }), 403, 'and /events');
  t.equal((await http(`${url}/status`, 'GET', { Host: `ferry-source.test:${port}`, ...auth })).status, 200, 'a name given with --allow-host works');
  await noMigration();
});

t.test('without the token: refused on every route, and the daemon will not start without one', async (t) => {
  const { url, body, noMigration } = await sourceWithToken(t);
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
});

t.test('a second local user (uid 65534) can neither read the token nor drive the daemon', { skip: process.getuid?.() === 0 ? false : 'needs root to run a child as uid 65534' }, async (t) => {
  const { token, url, body, noMigration } = await sourceWithToken(t);
  const attempt = `
    const { readFileSync } = require('node:fs');
    const [token, url, body] = process.argv.slice(1);
    let read = 'read';
    try { readFileSync(token); } catch (error) { read = error.code; }
    fetch(url + '/migrations', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      .then((res) => console.log(JSON.stringify({ uid: process.getuid(), read, status: res.status })));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', attempt, token, url, body], { uid: 65534, gid: 65534 });
  t.same(JSON.parse(stdout), { uid: 65534, read: 'EACCES', status: 401 }, 'the token file is out of reach and the request is refused');
  await noMigration();
});

t.test("ferry status with --token-file reads the source; without it, it says why", async (t) => {
  const { token, url } = await sourceWithToken(t);
  const run = promisify(execFile);
  const { stdout: json } = await run(process.execPath, [FERRY, 'status', url, '--json', '--token-file', token]);
  t.same(JSON.parse(json), { role: 'source', migrations: [] }, '--json');
  const { stdout: text } = await run(process.execPath, [FERRY, 'status', url, '--token-file', token]);
  t.match(text, /^source: 0 migration\(s\)/, 'the table');
  const refused = await run(process.execPath, [FERRY, 'status', url]).catch((error: { code: number; stderr: string }) => error);
  t.match(refused, { code: 1, stderr: /HTTP 401.*bearer token/ });
});

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

  const guarded = await spawnTarget(t, join(root, 'guarded'), ['--token-file', tokenFile(root)]);
  const guardedHttp = guarded.url.replace(/^ws/, 'http');
  t.equal((await http(`${guardedHttp}/status`, 'GET', {})).status, 401, '/status without the token');
  t.equal(await upgradeStatus(`${guarded.url}/events`, {}), 401, '/events without the token');
  t.equal(await upgradeStatus(`${guarded.url}/events`, auth), 101, '/events with it');
  t.equal(await upgradeStatus(`${guarded.url}/events`, { ...auth, ...evil }), 403, 'but never from a page');
  const { stdout } = await promisify(execFile)(process.execPath, [FERRY, 'status', guarded.url, '--json', '--token-file', join(root, 'token')]);
  t.match(JSON.parse(stdout), { role: 'target', migrations: [] }, 'ferry status reads it with --token-file');
});
