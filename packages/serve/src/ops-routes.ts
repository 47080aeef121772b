import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { AuthDecision } from './auth.js';
import type { DaemonMetrics } from './metrics.js';
import type { LoginLimiter } from './login-limiter.js';
import { pageCookieHeader } from './page-cookie.js';

export interface OpsRoutes {
  readonly metrics: DaemonMetrics;
  /** The daemon's bearer token; without one there is nothing to log in with (loopback clients get the page). */
  readonly token: string | undefined;
  /** The daemon speaks TLS: the page cookie is then `Secure`. */
  readonly secure: boolean;
  /** Counts the wrong tokens POST /login was given, per address. */
  readonly logins: LoginLimiter;
}

// Found through the package, not beside this file: the CLI runs this code from its bundle (scripts/bundle-cli.ts).
const PAGE_DIR = new URL('../page/', import.meta.resolve('@ferry/serve'));
const UPLOT_DIST = new URL('./', import.meta.resolve('uplot'));
const MAX_LOGIN_BYTES = 4096;

/** The page's files, by route: a fixed table, so no request path ever reaches the file system. */
const ASSETS: Readonly<Record<string, { readonly file: URL; readonly type: string }>> = {
  '/': { file: new URL('index.html', PAGE_DIR), type: 'text/html; charset=utf-8' },
  '/page.js': { file: new URL('page.js', PAGE_DIR), type: 'text/javascript; charset=utf-8' },
  '/page.css': { file: new URL('page.css', PAGE_DIR), type: 'text/css; charset=utf-8' },
  '/uplot.js': { file: new URL('uPlot.iife.min.js', UPLOT_DIST), type: 'text/javascript; charset=utf-8' },
  '/uplot.css': { file: new URL('uPlot.min.css', UPLOT_DIST), type: 'text/css; charset=utf-8' },
};
/** Served to anyone: the login form and its script hold no secret and show no state. */
const LOGIN = { file: new URL('login.html', PAGE_DIR), type: 'text/html; charset=utf-8' };
const LOGIN_SCRIPT = { file: new URL('login.js', PAGE_DIR), type: 'text/javascript; charset=utf-8' };

/** The page runs only its own files, talks only to its own daemon, and cannot be framed by another site. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
};

/**
 * What an operator's tools reach on either daemon besides its API: GET /metrics (Prometheus text), the
 * live page at GET / with its scripts, and POST /login, which turns the token into the page cookie.
 * `auth` is the daemon's own decision for this request (the one /status gets), so these routes are as
 * open or as closed as /status. Resolves true when it answered the request.
 */
export async function serveOps(request: IncomingMessage, response: ServerResponse, auth: AuthDecision, ops: OpsRoutes): Promise<boolean> {
  const path = new URL(request.url ?? '/', 'http://x').pathname;
  const asset = ASSETS[path];
  const isLogin = request.method === 'POST' && path === '/login';
  if (!isLogin && (request.method !== 'GET' || (asset === undefined && path !== '/metrics' && path !== '/login.js'))) return false;
  if (!auth.ok && auth.status !== 401) {
    // Refused before any credential was looked at (a foreign Host or Origin, a tokenless daemon's remote
    // client): the login form and its POST are no exception, or a rebinding page could guess tokens.
    sendJson(response, auth.status, { error: auth.message });
  } else if (isLogin) {
    login(request, response, ops);
  } else if (path === '/login.js') {
    sendFile(response, 200, LOGIN_SCRIPT);
  } else if (!auth.ok) {
    // A person who opens the page without the cookie gets the login form; any other client the error.
    if (path === '/' && auth.status === 401) sendFile(response, 401, LOGIN);
    else sendJson(response, auth.status, { error: auth.message });
  } else if (asset) {
    sendFile(response, 200, asset);
  } else {
    const { contentType, body } = await ops.metrics.render();
    response.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
  }
  return true;
}

function login(request: IncomingMessage, response: ServerResponse, ops: OpsRoutes): void {
  const { token } = ops;
  if (token === undefined) return sendJson(response, 400, { error: 'this daemon has no token: there is nothing to log in with (loopback clients see the page as is)' });
  if (!(request.headers['content-type'] ?? '').startsWith('application/json')) {
    return sendJson(response, 415, { error: 'POST /login takes a JSON body {"token": "..."} with content-type application/json' });
  }
  const { logins } = ops;
  const address = request.socket.remoteAddress ?? 'unknown';
  const waitMs = logins.retryAfterMs(address, Date.now());
  if (waitMs > 0) {
    // Refused before the body is read: a guess made now is never compared.
    const seconds = Math.ceil(waitMs / 1000);
    return sendJson(response, 429, { error: `too many wrong tokens from this address: try again in ${seconds} s` }, { 'retry-after': String(seconds) });
  }
  readSmallBody(request).then((text) => {
    const given = tokenOf(text);
    if (given === undefined || !sameSecret(given, token)) {
      logins.failed(address, Date.now());
      return sendJson(response, 401, { error: 'wrong token: give the contents of the daemon\'s --token-file' });
    }
    logins.succeeded(address);
    response.writeHead(204, { 'set-cookie': pageCookieHeader(request, token, ops.secure), 'cache-control': 'no-store' }).end();
  }, (error: unknown) => sendJson(response, 400, { error: error instanceof Error ? error.message : String(error) }));
}

function tokenOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as unknown;
    const token = typeof body === 'object' && body !== null ? (body as Record<string, unknown>)['token'] : undefined;
    return typeof token === 'string' ? token.trim() : undefined;
  } catch {
    return undefined;
  }
}

function sameSecret(given: string, token: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(given), digest(token));
}

function readSmallBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_LOGIN_BYTES) {
        reject(new Error(`the login body is over ${MAX_LOGIN_BYTES} bytes`));
        request.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendFile(response: ServerResponse, status: number, asset: { readonly file: URL; readonly type: string }): void {
  readFile(fileURLToPath(asset.file)).then(
    (body) => response.writeHead(status, { 'content-type': asset.type, ...PAGE_HEADERS }).end(body),
    (error: unknown) => sendJson(response, 500, { error: `the page file ${fileURLToPath(asset.file)} cannot be read: ${error instanceof Error ? error.message : String(error)}` }),
  );
}

/** A JSON answer, one line: every route of both daemons and the status endpoint answers this way. */
export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', ...headers }).end(`${JSON.stringify(body)}\n`);
}
