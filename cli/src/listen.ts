import { UsageError } from './usage.js';

/** Parses --listen HOST:PORT (IPv6 as [::1]:PORT); port 0 means any free port. */
export function parseListen(value: string | undefined): { host: string; port: number } {
  if (!value) throw new UsageError('--listen HOST:PORT is required');
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65535) throw new UsageError(`--listen ${value} must be HOST:PORT, e.g. 127.0.0.1:7070 or [::1]:7070`);
  return { host: match[1] ?? match[2] ?? '', port };
}
