import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { hasPageCookie } from './page-cookie.js';
import { checkContentType, checkHost, checkOrigin, hostName } from './request-checks.js';

/** Who may use a daemon: one policy per daemon, applied to every HTTP request and every WebSocket upgrade. */
export interface AccessPolicy {
  /** `Authorization: Bearer <token>` required on every route. */
  readonly token?: string | undefined;
  /** The TLS layer verified a client certificate before any request (mutual TLS): that is the credential. */
  readonly clientCertificates: boolean;
  /** Without a token or certificates: any client (the operator's --insecure), else loopback clients only. */
  readonly insecure: boolean;
  /** Host names answered to besides IP literals and localhost (against DNS rebinding). */
  readonly allowedHosts: ReadonlySet<string>;
  readonly scheme: 'http' | 'https';
}

export interface AccessPolicyOptions {
  readonly token?: string | undefined;
  readonly clientCertificates?: boolean | undefined;
  readonly insecure?: boolean | undefined;
  /** --allow-host names. */
  readonly allowHosts?: readonly string[] | undefined;
  /** The --listen host: when it is a name, the daemon answers to it. */
  readonly listenHost: string;
  readonly tls: boolean;
}

export function accessPolicy(options: AccessPolicyOptions): AccessPolicy {
  const names = [...(options.allowHosts ?? [])];
  if (isIP(options.listenHost) === 0 && options.listenHost !== '') names.push(options.listenHost);
  return {
    token: options.token,
    clientCertificates: options.clientCertificates === true,
    insecure: options.insecure === true,
    allowedHosts: new Set(names.map((name) => hostName(name) ?? name.toLowerCase())),
    scheme: options.tls ? 'https' : 'http',
  };
}

/**
 * How the client proved itself: `none` is a loopback client of a tokenless daemon, or --insecure;
 * `page-cookie` is the live page's login cookie, which opens the read-only routes only.
 */
export type Credential = 'token' | 'page-cookie' | 'certificate' | 'none';

export type AuthDecision =
  | { readonly ok: true; readonly credential: Credential }
  | { readonly ok: false; readonly status: 401 | 403 | 415; readonly message: string };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Loopback addresses, including IPv4-mapped IPv6 (::ffff:127.0.0.1). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const plain = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(plain) === 4) return plain.startsWith('127.');
  return plain === '::1';
}

/**
 * The one gate of both daemons. Web pages first (Host, Origin, Content-Type: refused whatever the
 * credential, since a page never holds one legitimately), then the credential: the bearer token compared
 * in constant time (digests of equal length, so the length does not leak either), or a verified client
 * certificate; without either, loopback clients only unless the operator said --insecure. A browser
 * shows the token through the page cookie instead (read-only routes only).
 */
export function authorize(request: IncomingMessage, policy: AccessPolicy): AuthDecision {
  const { headers } = request;
  const host = checkHost(headers.host, policy.allowedHosts);
  if (!host.ok) return { ok: false, status: 403, message: host.message };
  const origin = checkOrigin(headers.origin, headers.host, policy.scheme);
  if (!origin.ok) return { ok: false, status: 403, message: origin.message };
  const contentType = checkContentType(request.method, headers['content-type']);
  if (!contentType.ok) return { ok: false, status: 415, message: contentType.message };
  if (policy.token !== undefined) {
    const match = /^Bearer (.+)$/.exec(headers.authorization ?? '');
    if (match && timingSafeEqual(digest(match[1]!), digest(policy.token))) return { ok: true, credential: 'token' };
    if (!match && hasPageCookie(request, policy.token)) return { ok: true, credential: 'page-cookie' };
    return { ok: false, status: 401, message: 'missing or wrong bearer token (give the token file with --token-file)' };
  }
  if (policy.clientCertificates) return { ok: true, credential: 'certificate' };
  if (policy.insecure || isLoopback(request.socket.remoteAddress)) return { ok: true, credential: 'none' };
  return { ok: false, status: 403, message: 'this daemon has no token and accepts only loopback clients (start it with --token-file, or --insecure on a trusted network)' };
}

/** Answers a refused WebSocket upgrade with a plain HTTP status and the reason, then closes. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${message}\n`);
}
