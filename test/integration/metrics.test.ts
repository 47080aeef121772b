/**
 * GET /metrics on both daemons, scraped while a migration runs (held in its pause hook, so it is surely
 * running) and after it ended; the numbers are checked against the migration's `--json` summary (the
 * source daemon publishes the same summary on /events). The routes of the page and the metrics are as
 * closed as /status: a token, or the read-only page cookie that POST /login trades for it.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, startDaemon } from '../helpers/ferry.js';
import { waitForFile } from '../helpers/files.js';
import { scrape, valueOf, type Sample } from '../helpers/prometheus.js';

const TOKEN = 'metrics-test-token-5c1e';
const IMAGE_BYTES = 16 * 1024 * 1024;

interface Setup {
  readonly dir: string;
  readonly image: string;
  readonly tokenFile: string;
  /** A pause hook that says it started (a file appears) and waits until the test opens the gate. */
  readonly pauseCmd: string;
  readonly hookStarted: string;
  openGate(): void;
}

async function setup(t: Test): Promise<Setup> {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, IMAGE_BYTES, { seed: 21 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const hookStarted = join(dir, 'hook-started');
  const gate = join(dir, 'gate');
  const pauseCmd = `touch '${hookStarted}'; while [ ! -e '${gate}' ]; do sleep 0.05; done`;
  return { dir, image, tokenFile, pauseCmd, hookStarted, openGate: () => writeFileSync(gate, '') };
}

const running = (samples: Sample[]): number | undefined => valueOf(samples, 'ferry_migrations_running');

t.test('the target: scraped during a migration and after, against the --json summary', async (t) => {
  const s = await setup(t);
  const targetUrl = await startDaemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(s.dir, 'target'), '--token-file', s.tokenFile]);
  const run = runMigrate(t, ['--to', targetUrl, '--image', `ram=${s.image}`, '--token-file', s.tokenFile, '--id', 'scraped', '--pause-cmd', s.pauseCmd]);
  await waitForFile(s.hookStarted);

  const live = await scrape(targetUrl, TOKEN);
  t.equal(running(live), 1, 'one migration running');
  t.equal(valueOf(live, 'ferry_migrations_started_total'), 1);
  t.equal(valueOf(live, 'ferry_migrations_ended_total'), undefined, 'none ended yet');
  t.ok(valueOf(live, 'ferry_migration_pass', { migration_id: 'scraped' }) !== undefined, 'the running migration has its pass gauge');
  t.ok((valueOf(live, 'ferry_wire_bytes_total', { kind: 'pages' }) ?? 0) > 0, 'pre-copy bytes are counted as they arrive');

  s.openGate();
  const { code, summary, events } = await run;
  t.equal(code, 0);
  t.equal(summary['result'], 'committed');
  const after = await scrape(targetUrl, TOKEN);
  t.equal(running(after), 0);
  t.equal(valueOf(after, 'ferry_migrations_ended_total', { result: 'committed', code: '' }), 1);
  t.equal(valueOf(after, 'ferry_migration_passes_sum'), summary['passes'], 'passes as the summary counts them');
  t.equal(valueOf(after, 'ferry_migration_duration_seconds_count'), 1);
  const passBytes = events.filter((e) => e['event'] === 'pass-end').reduce((sum, e) => sum + Number(e['bytesSent']), 0);
  t.equal(valueOf(after, 'ferry_wire_bytes_total', { kind: 'pages' }), passBytes, 'page bytes: the sum of the passes the source reported');
  t.equal(valueOf(after, 'ferry_migration_pass', { migration_id: 'scraped' }), undefined, 'the ended migration\'s live series are gone');
});

t.test('the source daemon: scraped during a migration and after, against its summary', async (t) => {
  const s = await setup(t);
  const targetUrl = await startDaemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(s.dir, 'target'), '--token-file', s.tokenFile]);
  const sourceUrl = await startDaemon(t, ['source', '--listen', '127.0.0.1:0', '--token-file', s.tokenFile]);
  const auth = { authorization: `Bearer ${TOKEN}` };
  const events = new WebSocket(`${sourceUrl.replace(/^http/, 'ws')}/events`, { headers: auth });
  t.teardown(() => events.terminate());
  await new Promise((resolve, reject) => events.once('open', resolve).once('error', reject));
  const ended = new Promise<Record<string, number | string | undefined>>((resolve) => {
    events.on('message', (data: Buffer) => {
      const event = JSON.parse(data.toString('utf8')) as { event: string; summary: Record<string, number | string | undefined> };
      if (event.event === 'summary') resolve(event.summary);
    });
  });
  const body = { to: targetUrl, image: [`ram=${s.image}`], id: 'daemon-scraped', 'token-file': s.tokenFile, 'pause-cmd': s.pauseCmd, 'state-dir': join(s.dir, 'journal') };
  const started = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.equal(started.status, 202, await started.clone().text());
  await waitForFile(s.hookStarted);

  const live = await scrape(sourceUrl, TOKEN);
  t.equal(running(live), 1, 'one migration running');
  t.equal(valueOf(live, 'ferry_migrations_started_total'), 1);
  t.ok(valueOf(live, 'ferry_migration_pass', { migration_id: 'daemon-scraped' }) !== undefined, 'its pass gauge');
  t.ok((valueOf(live, 'ferry_wire_bytes_total', { kind: 'ram' }) ?? 0) > 0, 'RAM bytes counted while it runs');
  t.ok((valueOf(live, 'process_resident_memory_bytes') ?? 0) > 0, 'the process\'s memory');
  t.ok(valueOf(live, 'nodejs_eventloop_lag_seconds') !== undefined, 'the event-loop lag');

  s.openGate();
  const summary = await ended;
  t.equal(summary['result'], 'committed');
  const after = await scrape(sourceUrl, TOKEN);
  t.equal(running(after), 0);
  t.equal(valueOf(after, 'ferry_migrations_ended_total', { result: 'committed', code: '' }), 1);
  t.equal(valueOf(after, 'ferry_wire_bytes_total'), summary['bytesSent'], 'bytes by kind add up to the summary\'s bytesSent');
  const encodings = { zero: 'zero', raw: 'raw', lz4: 'lz4', xor_lz4: 'delta', copy: 'copy' } as const;
  for (const [encoding, field] of Object.entries(encodings)) {
    t.equal(valueOf(after, 'ferry_pages_total', { encoding }) ?? 0, summary[`${field}Pages`], `${encoding} pages as in the summary`);
    t.equal(valueOf(after, 'ferry_record_bytes_total', { encoding }) ?? 0, summary[`${field}Bytes`], `and their bytes`);
  }
  t.ok((valueOf(after, 'ferry_record_bytes_total') ?? 0) > 0, 'records were counted');
  t.equal(Math.round((valueOf(after, 'ferry_migration_pause_seconds_sum') ?? 0) * 1000), summary['pauseMs'], 'the pause');
  t.equal(Math.round((valueOf(after, 'ferry_migration_duration_seconds_sum') ?? 0) * 1000), summary['totalMs'], 'the total time');
  t.equal(valueOf(after, 'ferry_migration_passes_sum'), summary['passes'], 'the passes');
  t.equal(valueOf(after, 'ferry_migration_pass', { migration_id: 'daemon-scraped' }), undefined, 'its live series are gone');
  const target = await scrape(targetUrl, TOKEN);
  t.equal(valueOf(target, 'ferry_migrations_ended_total', { result: 'committed' }), 1, 'the target counted the same commit');
  t.equal(valueOf(target, 'ferry_migration_passes_sum'), summary['passes'], 'and the same passes');
});

t.test('/metrics and the page are as closed as /status; the page cookie opens only what reads', async (t) => {
  const s = await setup(t);
  const targetUrl = (await startDaemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(s.dir, 'target'), '--token-file', s.tokenFile])).replace(/^ws/, 'http');
  const sourceUrl = await startDaemon(t, ['source', '--listen', '127.0.0.1:0', '--token-file', s.tokenFile]);
  for (const [name, url] of [['target', targetUrl], ['source', sourceUrl]] as const) {
    t.equal((await fetch(`${url}/metrics`)).status, 401, `${name}: /metrics without the token`);
    t.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401, `${name}: /metrics with a wrong token`);
    t.equal((await fetch(`${url}/page.js`)).status, 401, `${name}: the page's script without the token`);
    const form = await fetch(`${url}/`);
    t.equal(form.status, 401, `${name}: / without the token is the login form`);
    const formHtml = await form.text();
    t.match(formHtml, /<form id="login">/);
    t.notMatch(formHtml, TOKEN, 'which holds no secret');

    const json = { 'content-type': 'application/json' };
    t.equal((await fetch(`${url}/login`, { method: 'POST', headers: json, body: JSON.stringify({ token: 'wrong' }) })).status, 401, `${name}: a wrong token does not log in`);
    t.equal((await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ token: TOKEN }) })).status, 415, `${name}: a cross-site form post cannot log in`);
    const login = await fetch(`${url}/login`, { method: 'POST', headers: json, body: JSON.stringify({ token: TOKEN }) });
    t.equal(login.status, 204, `${name}: the token logs in`);
    const setCookie = login.headers.get('set-cookie') ?? '';
    t.match(setCookie, /HttpOnly/);
    t.match(setCookie, /SameSite=Strict/);
    t.notMatch(setCookie, TOKEN, 'the cookie is not the token');
    const cookie = { cookie: setCookie.split(';')[0]! };

    t.equal((await fetch(`${url}/metrics`, { headers: cookie })).status, 200, `${name}: the cookie opens /metrics`);
    t.equal((await fetch(`${url}/status`, { headers: cookie })).status, 200, `${name}: and /status`);
    const page = await fetch(`${url}/`, { headers: cookie });
    t.equal(page.status, 200, `${name}: and the page`);
    const pageHtml = await page.text();
    t.match(pageHtml, /uplot\.js/);
    t.notMatch(pageHtml, TOKEN, 'the page holds no token');
    t.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, 'and cannot be framed');
    t.equal((await fetch(`${url}/uplot.js`, { headers: cookie })).status, 200, `${name}: the chart library comes from the daemon`);
    const events = new WebSocket(`${url.replace(/^http/, 'ws')}/events`, { headers: cookie });
    t.teardown(() => events.terminate());
    await t.resolves(new Promise((resolve, reject) => events.once('open', resolve).once('error', reject)), `${name}: the cookie opens /events`);
  }
  const cookieOf = async (url: string): Promise<string> => {
    const login = await fetch(`${url}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: TOKEN }) });
    return (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  };
  const sourceCookie = await cookieOf(sourceUrl);
  const post = await fetch(`${sourceUrl}/migrations`, { method: 'POST', headers: { cookie: sourceCookie, 'content-type': 'application/json' }, body: JSON.stringify({ to: targetUrl, image: [`ram=${s.image}`] }) });
  t.equal(post.status, 401, 'the cookie cannot start a migration');
  const migrate = new WebSocket(`${targetUrl.replace(/^http/, 'ws')}/migrate`, { headers: { cookie: await cookieOf(targetUrl) } });
  const refused = await new Promise<string>((resolve) => {
    migrate.once('open', () => resolve('open'));
    migrate.once('unexpected-response', (_request, response) => resolve(String(response.statusCode)));
    migrate.once('error', (error) => resolve(error.message));
  });
  migrate.terminate();
  t.equal(refused, '401', 'nor open /migrate on the target');
  t.equal((await fetch(`${sourceUrl}/status`, { headers: { cookie: sourceCookie.replace(/=.*/, '=forged') } })).status, 401, 'a forged cookie opens nothing');
  // Browsers send the cookie to every port of the host: a page on another port must not ride on it.
  const otherPort = { cookie: sourceCookie, origin: 'http://127.0.0.1:8080' };
  // A foreign Origin is refused by the gate before any credential is looked at (403).
  t.equal((await fetch(`${sourceUrl}/metrics`, { headers: otherPort })).status, 403, 'the cookie from another origin opens nothing');
  t.equal((await fetch(`${sourceUrl}/status`, { headers: { cookie: sourceCookie, 'sec-fetch-site': 'same-site' } })).status, 401, 'nor from another port of the same site');
  t.equal((await fetch(`${sourceUrl}/status`, { headers: { cookie: sourceCookie, origin: new URL(sourceUrl).origin } })).status, 200, 'the page\'s own origin is fine');
  const hijack = new WebSocket(`${sourceUrl.replace(/^http/, 'ws')}/events`, { headers: otherPort });
  const hijacked = await new Promise<string>((resolve) => {
    hijack.once('open', () => resolve('open'));
    hijack.once('unexpected-response', (_request, response) => resolve(String(response.statusCode)));
    hijack.once('error', (error) => resolve(error.message));
  });
  hijack.terminate();
  t.equal(hijacked, '403', 'a page on another port cannot open /events with the cookie');
});

/** POST /login from `localAddress` (loopback has all of 127/8), answered with its status and Retry-After. */
function login(url: string, token: string, localAddress: string): Promise<{ status: number; retryAfter: string | undefined }> {
  const { hostname, port } = new URL(url);
  const body = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: hostname, port, path: '/login', method: 'POST', localAddress, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.once('end', () => resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'] }));
    });
    request.once('error', reject);
    request.end(body);
  });
}

t.test('POST /login: five wrong tokens from an address, then it waits a minute, right token or not; other addresses do not', async (t) => {
  const s = await setup(t);
  const targetUrl = (await startDaemon(t, ['target', '--listen', '127.0.0.1:0', '--dir', join(s.dir, 'target'), '--token-file', s.tokenFile])).replace(/^ws/, 'http');
  const sourceUrl = await startDaemon(t, ['source', '--listen', '127.0.0.1:0', '--token-file', s.tokenFile]);
  for (const [name, url] of [['target', targetUrl], ['source', sourceUrl]] as const) {
    for (let guess = 1; guess <= 5; guess++) t.equal((await login(url, `guess-${guess}`, '127.0.0.2')).status, 401, `${name}: wrong token ${guess} is looked at`);
    const refused = await login(url, TOKEN, '127.0.0.2');
    t.equal(refused.status, 429, `${name}: the sixth try is refused without being looked at, even with the right token`);
    t.ok(Number(refused.retryAfter) > 0 && Number(refused.retryAfter) <= 60, `${name}: and says when to come back (Retry-After ${refused.retryAfter} s)`);
    t.equal((await login(url, TOKEN, '127.0.0.3')).status, 204, `${name}: another address still logs in`);
  }
});
