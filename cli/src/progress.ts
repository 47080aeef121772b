import type { ConvergenceFields, MigrationSummary, PacingSummary, SourceEvent } from '@ferry/serve';
import { formatBytes } from './units.js';
import { describePauseTimeline } from '@ferry/agent-source';

export interface ProgressSink {
  event(event: SourceEvent): void;
  summary(summary: MigrationSummary): void;
}

/** --json: one JSON object per line on stdout; the summary is the last line. */
export function jsonSink(out: NodeJS.WritableStream = process.stdout): ProgressSink {
  return {
    event: (event) => void out.write(`${JSON.stringify(event)}\n`),
    summary: (summary) => {
      const { history: _history, ...rest } = summary;
      out.write(`${JSON.stringify(rest)}\n`);
    },
  };
}

/** A live status line on a TTY (stderr), pass lines otherwise, and a readable summary on stdout. */
export function humanSink(tty: boolean, err: NodeJS.WriteStream = process.stderr, out: NodeJS.WritableStream = process.stdout): ProgressSink {
  let live = false;
  const line = (text: string): void => {
    if (tty) err.write(`\r\x1b[2K${text}`);
    live = tty;
  };
  const say = (text: string): void => {
    if (live) err.write('\r\x1b[2K');
    live = false;
    err.write(`${text}\n`);
  };
  return {
    event(event) {
      switch (event.event) {
        case 'connected': say(`connected to ${event.url} (migration ${event.migrationId})`); break;
        case 'progress': if (tty) line(bar(event)); break;
        case 'pass-end': say(`${event.final ? 'final pass' : 'pass'} ${event.pass}: ${event.dirtyPages} dirty pages, ${formatBytes(event.bytesSent)} in ${Math.round(event.durationMs)} ms${event.final ? '' : why(event)}${event.stop && !event.final ? ` -> stop (${event.reason})` : ''}`); break;
        case 'throttle': say(`throttle ${event.level}%: ${event.reason}`); break;
        case 'long-pause': say(`the pause is expected to last ~${(event.expectedPauseMs / 1000).toFixed(1)} s (${event.reason})`); break;
        case 'paused': say(`workload paused; final pass ${event.pass}`); break;
        case 'state': say(`state ${event.name}: ${formatBytes(event.bytes)}`); break;
        case 'verify': say(`verify ${event.image}: ${event.ok ? 'ok' : `${event.mismatchedPages} pages differ, re-sending`}`); break;
        case 'resumed': say(`resumed on the target after a ${Math.round(event.pauseMs)} ms pause`); break;
        case 'rollback': say(`rolling back: ${event.reason}`); break;
        case 'disconnected': say(`connection lost in pass ${event.pass} (${event.reason}); reconnecting`); break;
        case 'reconnected': say(`reconnected after ${event.attempts} attempt(s); ${event.resumed ? `the target holds ${event.heldPages} pages` : 'starting over'}`); break;
        case 'pass-begin': case 'commit-ready': case 'go': break;
        default: assertNever(event);
      }
    },
    summary(summary) {
      if (live) err.write('\r\x1b[2K');
      out.write(formatSummary(summary));
    },
  };
}

function assertNever(value: never): never {
  throw new Error(`unhandled progress event ${JSON.stringify(value)}`);
}

/** Why pre-copy converges or not: what the workload dirties against what the link carries, the throttle, the pause now. */
function why(event: Partial<ConvergenceFields>): string {
  const parts = [
    event.dirtyRate !== undefined ? `dirtying ${formatBytes(event.dirtyRate)}/s` : undefined,
    event.sendRate !== undefined ? `sending ${formatBytes(event.sendRate)}/s` : undefined,
    event.throttle ? `throttle ${event.throttle}%` : undefined,
    event.expectedPauseMs !== undefined ? `pause now ~${event.expectedPauseMs} ms` : undefined,
  ].filter((part) => part !== undefined);
  return parts.length > 0 ? ` (${parts.join(', ')})` : '';
}

/** The bar is the running pass's scan through the image; the numbers are the whole migration's. */
function bar(event: Extract<SourceEvent, { event: 'progress' }>): string {
  const width = 30;
  const fraction = event.passFraction;
  const filled = Math.round(fraction * width);
  const rate = event.rate > 0 ? `, ${formatBytes(event.rate)}/s` : '';
  const eta = event.passEtaMs !== undefined ? `, pass ends in ~${(event.passEtaMs / 1000).toFixed(1)} s` : '';
  const disk = event.diskBytesSent !== undefined ? ` (disks ${formatBytes(event.diskBytesSent)})` : '';
  return `pass ${event.pass} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(event.bytesSent)} sent${disk}, ${event.pagesSent} pages${rate}${eta}${why(withoutSendRate(event))}`;
}

/** The bar shows the send rate already. */
function withoutSendRate({ sendRate: _sendRate, ...rest }: Partial<ConvergenceFields>): Partial<ConvergenceFields> {
  return rest;
}

function describePacing(p: PacingSummary): string {
  const queued = p.queuedAtPause !== undefined ? `; ${formatBytes(p.queuedAtPause)} in flight at the pause` : '';
  if (p.state === 'off') return `off: ${p.reason ?? 'not paced'}${queued}`;
  const rate = p.deliveryRate !== undefined ? `link ${formatBytes(p.deliveryRate)}/s` : 'no estimate yet';
  const rtt = p.minRttMs !== undefined ? `, round trip ${p.minRttMs} ms` : '';
  return `${rate}${rtt}, paced at ${formatBytes(p.pacingRate ?? 0)}/s (${p.mode ?? 'startup'})${queued}`;
}

function formatSummary(s: MigrationSummary): string {
  const rows: Array<[string, string]> = [
    ['result', s.result],
    ['migration', s.migrationId],
    ['image size', formatBytes(s.imageBytes)],
    ['data sent', formatBytes(s.bytesSent)],
    ['total time', `${s.totalMs} ms`],
    ['pause time', `${s.pauseMs} ms`],
    ...(s.pauseTimeline ? [['pause parts', `${describePauseTimeline(s.pauseTimeline)} (ms)`] as [string, string]] : []),
    ['passes', String(s.passes)],
    ['pages sent', `${s.pagesSent} (raw ${s.rawPages}, lz4 ${s.lz4Pages}, delta ${s.deltaPages}, zero ${s.zeroPages}, copy ${s.copyPages})`],
  ];
  if (s.packedBytesSaved > 0) rows.push(['packed', `${formatBytes(s.packedBytesSaved)} fewer bytes on the wire (whole batches compressed for a slow link)`]);
  rows.push(['pages read', `${s.pagesRead}${s.finalPagesRead !== undefined ? ` (final pass ${s.finalPagesRead}, of which ${s.finalDirtyPages ?? 0} changed)` : ''}`]);
  if (s.pacing) rows.push(['pacing', describePacing(s.pacing)]);
  for (const [name, log] of Object.entries(s.dirtyLog ?? {})) rows.push([`dirty log ${name}`, `${log.method}: ${log.reason}`]);
  for (const [name, disk] of Object.entries(s.disks ?? {})) rows.push([`disk ${name}`, `${formatBytes(disk.bytesSent)} sent in ${disk.passes} passes`]);
  if (s.stopReason) rows.push(['stopped by', s.stopReason]);
  if (s.error) rows.push(['error', `${s.error.code}: ${s.error.message}`]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}
