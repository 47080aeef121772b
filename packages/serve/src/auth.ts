import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { hasPageCookie } from './page-cookie.js';

export type AuthDecision = { readonly ok: true } | { readonly ok: false; readonly status: 401 | 403; readonly message: string };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Loopback addresses, including IPv4-mapped IPv6 (::ffff:127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/**
 * The upgrade check: with a token, `Authorization: Bearer <token>` compared in constant time (digests of
 * equal length, so the length does not leak either); without one, loopback clients only unless the
 * operator said --insecure. A browser shows the token through the page cookie instead (read-only routes only).
 */
export function authorize(request: IncomingMessage, token: string | undefined, insecure: boolean): AuthDecision {
  if (token !== undefined) {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (.+)$/.exec(header);
    if (match && timingSafeEqual(digest(match[1]!), digest(token))) return { ok: true };
    if (!match && hasPageCookie(request, token)) return { ok: true };
    return { ok: false, status: 401, message: 'missing or wrong bearer token (give the token file with --token-file)' };
  }
  if (insecure || isLoopback(request.socket.remoteAddress)) return { ok: true };
  return { ok: false, status: 403, message: 'this daemon has no token and accepts only loopback clients (start it with --token-file, or --insecure on a trusted network)' };
}
