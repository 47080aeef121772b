import { isIP } from 'node:net';

/**
 * The checks that keep web pages away from a daemon, pure over header values. A browser lets any page
 * send a "simple" cross-site POST (text/plain, no preflight) and open WebSockets anywhere, and DNS
 * rebinding makes a page's own name point at 127.0.0.1; these close each door.
 */
export type CheckResult = { readonly ok: true } | { readonly ok: false; readonly message: string };

const OK: CheckResult = { ok: true };

/** The Host header's name: lower case, IPv6 without brackets; undefined when it is not a valid host. */
export function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  try {
    const url = new URL(`http://${host}`);
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return undefined;
    return url.hostname.replace(/^\[(.*)\]$/, '$1');
  } catch {
    return undefined;
  }
}

/**
 * Against DNS rebinding: the Host must be an IP literal, localhost, or a name the operator allowed. A
 * rebound page sends its own name (evil.example) as Host, which no operator allows.
 */
export function checkHost(host: string | undefined, allowedNames: ReadonlySet<string>): CheckResult {
  const name = hostName(host);
  if (name === undefined) return { ok: false, message: `the request's Host header ${JSON.stringify(host ?? '')} is missing or not a host` };
  if (isIP(name) !== 0 || name === 'localhost' || allowedNames.has(name)) return OK;
  return { ok: false, message: `Host ${name} is not an IP address, localhost, or a name this daemon was told to answer to (start it with --allow-host ${name})` };
}

/**
 * A browser always names the page's origin on cross-site requests and WebSockets; ferry's own clients
 * send none. So: no Origin, or the daemon's own origin (the page it serves itself), else refused.
 */
export function checkOrigin(origin: string | undefined, host: string | undefined, scheme: 'http' | 'https'): CheckResult {
  if (origin === undefined) return OK;
  const own = originOf(`${scheme}://${host ?? ''}`);
  if (own !== undefined && originOf(origin) === own) return OK;
  return { ok: false, message: `requests from web pages of other origins are refused (Origin ${origin})` };
}

/** A POST must say application/json: a cross-site page can send text/plain without asking, but not JSON. */
export function checkContentType(method: string | undefined, contentType: string | undefined): CheckResult {
  if (method !== 'POST') return OK;
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (mediaType === 'application/json') return OK;
  return { ok: false, message: `a POST must have Content-Type: application/json (got ${contentType === undefined ? 'none' : JSON.stringify(contentType)})` };
}

function originOf(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}
