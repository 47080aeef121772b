import type { DaemonStatus, SourceMigrationStatus, TargetMigrationStatus } from '@ferry/serve';
import { HELP_FLAG, parseFlags } from '../flags.js';
import { formatBytes } from '../units.js';
import { UsageError } from '../usage.js';

export const STATUS_FLAGS = { json: { type: 'boolean' }, 'token-file': { type: 'string' }, ...HELP_FLAG } as const;

/** `ferry status URL`: GET URL/status from either agent and print it. */
export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, STATUS_FLAGS, true);
  if (values.help) {
    process.stdout.write('ferry status URL [--json] [--token-file F]\n  URL of a ferry target or source, http(s):// or ws(s)://; --json prints its /status answer as it is\n');
    return 0;
  }
  const [raw] = positionals;
  if (!raw || positionals.length > 1) throw new UsageError('give exactly one URL, e.g. ferry status http://127.0.0.1:7070');
  const url = new URL(raw.replace(/^ws/, 'http'));
  url.pathname = '/status';
  const headers: Record<string, string> = {};
  if (values['token-file']) {
    const { readToken } = await import('../token-file.js');
    headers['authorization'] = `Bearer ${readToken(values['token-file'])}`;
  }
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
  } catch (error) {
    process.stderr.write(`ferry status: cannot reach ${url.href}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}\n`);
    return 1;
  }
  const body = await response.text();
  if (!response.ok) {
    process.stderr.write(`ferry status: ${url.href} answered HTTP ${response.status}: ${body.trim()}\n`);
    return 1;
  }
  if (values.json) {
    process.stdout.write(`${body.trim()}\n`);
    return 0;
  }
  process.stdout.write(describeStatus(JSON.parse(body) as DaemonStatus));
  return 0;
}

/** One line per migration: the target reports what it received, the source what it last sent. */
function describeStatus(status: DaemonStatus): string {
  const migrations: ReadonlyArray<SourceMigrationStatus | TargetMigrationStatus> = status.migrations ?? [];
  const lines = [`${status.role ?? 'ferry'}: ${migrations.length} migration(s)`];
  for (const m of migrations) lines.push(`  ${m.migrationId}  ${'phase' in m ? received(m) : sent(m)}`);
  return `${lines.join('\n')}\n`;
}

function received(m: TargetMigrationStatus): string {
  return `${m.phase}, pass ${m.pass}, ${formatBytes(m.bytesReceived ?? 0)}`;
}

function sent(m: SourceMigrationStatus): string {
  const last = m.last;
  const progress = last?.event === 'progress' ? last : undefined;
  const bytes = (last && 'bytesSent' in last ? last.bytesSent : undefined) ?? m.summary?.bytesSent ?? 0;
  const phase = m.summary?.result ?? last?.event ?? 'starting';
  const pass = last && 'pass' in last ? `, pass ${last.pass}` : '';
  const rate = progress && progress.rate > 0 ? `, ${formatBytes(progress.rate)}/s` : '';
  const eta = progress?.passEtaMs !== undefined ? `, pass ends in ~${(progress.passEtaMs / 1000).toFixed(1)} s` : '';
  return `${phase}${pass}, ${formatBytes(bytes)}${rate}${eta}`;
}
