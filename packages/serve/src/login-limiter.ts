import { isIPv6 } from 'node:net';

export interface LoginLimits {
  /** Wrong tokens an address may give within one window. */
  readonly failures: number;
  readonly windowMs: number;
  /** Addresses remembered at once; past that the oldest is forgotten, so a flood of addresses costs bounded memory. */
  readonly addresses: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { failures: 5, windowMs: 60_000, addresses: 4096 };

/**
 * Who is asking, for counting: an IPv4 address (also when mapped into IPv6), or an IPv6 address's /64,
 * which one host usually holds whole.
 */
export function loginKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.toLowerCase().split('%')[0]!.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/**
 * Wrong tokens given to POST /login, per address: after `failures` of them within `windowMs` of the
 * first, that address is refused (429) until the window ends, without its guess being looked at. A
 * right token clears its count. Pure: the caller passes the time.
 */
export class LoginLimiter {
  readonly #limits: LoginLimits;
  readonly #windows = new Map<string, { failures: number; since: number }>();

  constructor(limits: LoginLimits = DEFAULT_LOGIN_LIMITS) {
    this.#limits = limits;
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  retryAfterMs(address: string, now: number): number {
    const window = this.#windows.get(loginKey(address));
    if (!window) return 0;
    const ends = window.since + this.#limits.windowMs;
    if (now >= ends) {
      this.#windows.delete(loginKey(address));
      return 0;
    }
    return window.failures >= this.#limits.failures ? ends - now : 0;
  }

  failed(address: string, now: number): void {
    const key = loginKey(address);
    const window = this.#windows.get(key);
    if (window && now < window.since + this.#limits.windowMs) {
      window.failures++;
      return;
    }
    this.#windows.delete(key);
    if (this.#windows.size >= this.#limits.addresses) this.#forgetOldest(now);
    this.#windows.set(key, { failures: 1, since: now });
  }

  succeeded(address: string): void {
    this.#windows.delete(loginKey(address));
  }

  get tracked(): number {
    return this.#windows.size;
  }

  /** Drops ended windows; if none had ended, the oldest window (the Map keeps insertion order). */
  #forgetOldest(now: number): void {
    for (const [key, window] of this.#windows) if (now >= window.since + this.#limits.windowMs) this.#windows.delete(key);
    if (this.#windows.size < this.#limits.addresses) return;
    const oldest = this.#windows.keys().next();
    if (!oldest.done) this.#windows.delete(oldest.value);
  }
}
