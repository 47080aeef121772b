import { DEFAULT_LIMITS, type Hello } from '@ferry/protocol';
import { ScanPool } from '@ferry/pages';
import type { ConnectOptions } from './connection.js';
import type { SendMeter } from './send-meter.js';
import type { DescribedImage } from './images.js';
import type { MigrateOptions } from './options.js';

/** One scan pool per image, in HELLO order; the workers and the delta cache are shared out between them. */
export function startPools(options: MigrateOptions, images: readonly DescribedImage[]): Promise<ScanPool[]> {
  return Promise.all(images.map((image) => ScanPool.start({
    imagePath: image.path,
    pageSize: image.pageSize,
    workers: Math.max(1, Math.floor(options.workers / images.length)),
    deltaCacheBytes: Math.floor(options.deltaCacheBytes / images.length),
    delta: options.delta,
    compress: options.compress,
  })));
}

export function connectOptionsFor(o: MigrateOptions, meter: SendMeter): ConnectOptions {
  return {
    url: o.url, token: o.token, ca: o.ca, clientCert: o.clientCert, clientKey: o.clientKey,
    timeoutMs: o.replyTimeoutMs, maxPayload: DEFAULT_LIMITS.maxMessageBytes, meter,
  };
}

export function helloFor(o: MigrateOptions, images: readonly DescribedImage[], resume: boolean): Omit<Hello, 'type' | 'version'> {
  return {
    migrationId: o.migrationId,
    images: images.map(({ name, size, pageSize }) => ({ name, size, pageSize })),
    resume,
    options: { policy: o.policy, compress: o.compress, delta: o.delta },
  };
}
