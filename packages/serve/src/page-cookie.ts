import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * How a browser presents the token: it cannot set `Authorization` on a page load or a WebSocket, so the
 * login form (POST /login) trades the token for an HttpOnly, SameSite=Strict cookie. The cookie holds an
 * HMAC of the token, not the token, and opens only the read-only routes below: a stolen cookie shows
 * progress but cannot start a migration, and the token never reaches the page's script or its HTML.
 */
export const READ_ONLY_PATHS: ReadonlySet<string> = new Set(['/', '/page.js', '/page.css', '/uplot.js', '/uplot.css', '/status', '/metrics', '/events']);

/** Cookies are not kept apart by port: the name carries the daemon's, so a target and a source on one host keep one each. */
export function pageCookieName(request: IncomingMessage): string {
  return `ferry_page_${request.socket.localPort ?? 0}`;
}

export function pageCookieValue(token: string): string {
  return createHmac('sha256', token).update('ferry page cookie v1').digest('base64url');
}

/** The `Set-Cookie` header a successful login answers with. */
export function pageCookieHeader(request: IncomingMessage, token: string, secure: boolean): string {
  return `${pageCookieName(request)}=${pageCookieValue(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`;
}

/**
 * True for a GET of a read-only route that carries this daemon's page cookie for `token` and comes from
 * the page itself. Browsers send cookies to every port of a host, and SameSite counts another port as
 * the same site: a page on another port of this host is refused by its Origin (WebSockets, fetch) or by
 * Sec-Fetch-Site (plain subresource loads, which carry no Origin).
 */
export function hasPageCookie(request: IncomingMessage, token: string): boolean {
  if (request.method !== 'GET') return false;
  if (!READ_ONLY_PATHS.has(new URL(request.url ?? '/', 'http://x').pathname)) return false;
  if (!fromOwnOrigin(request)) return false;
  const presented = cookieValue(request.headers.cookie, pageCookieName(request));
  if (presented === undefined) return false;
  const expected = Buffer.from(pageCookieValue(token));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

function fromOwnOrigin(request: IncomingMessage): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  const scheme = 'encrypted' in request.socket && request.socket.encrypted === true ? 'https' : 'http';
  return origin === `${scheme}://${request.headers.host ?? ''}`;
}
