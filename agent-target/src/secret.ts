import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A per-session secret, sent once in WELCOME: 32 random bytes, base64url. */
export const newSessionSecret = (): string => randomBytes(32).toString('base64url');

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time comparison (of digests, so the length does not leak either). */
export const sameSecret = (presented: string, expected: string): boolean => timingSafeEqual(digest(presented), digest(expected));
