/**
 * Where ferry's pause went, from both agents' own logs (pino JSON, `time` in epoch ms, one host so one
 * clock): every source and target log line from the source's pause on, as offsets from it. The source
 * runs at debug level, so its phase changes are there too.
 */
import { readFileSync } from 'node:fs';

type LogLine = Record<string, unknown> & { readonly time: number; readonly msg?: string };

function readLog(path: string): LogLine[] {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').flatMap((line) => {
    try {
      const parsed = JSON.parse(line) as LogLine;
      return typeof parsed.time === 'number' ? [parsed] : [];
    } catch {
      return [];
    }
  });
}

/** Fields worth printing beside a step's name (durations and sizes), not the bookkeeping pino adds. */
const SHOWN = ['to', 'durationMs', 'bytes', 'bytesSent', 'dirtyPages', 'extents', 'startMs', 'loadMs', 'contMs', 'ok', 'image'];

/** `+ms role: msg (fields)` for each log line from the source's pause (QMP `stop`) to the end. */
export function pauseTimeline(sourceLog: string, targetLog: string): string[] {
  const source: LogLine[] = readLog(sourceLog).map((l) => ({ ...l, side: 'source' }));
  const target: LogLine[] = readLog(targetLog).map((l) => ({ ...l, side: 'target' }));
  const paused = source.find((l) => l.msg === 'phase' && l['to'] === 'final-pass');
  if (!paused) return ['(the source never paused)'];
  const pausing = source.find((l) => l.msg === 'phase' && l['to'] === 'pausing');
  const from = pausing?.time ?? paused.time;
  return [...source, ...target]
    .filter((l) => l.time >= from)
    .sort((a, b) => a.time - b.time)
    .map((l) => {
      const fields = SHOWN.filter((k) => l[k] !== undefined).map((k) => `${k}=${String(l[k])}`).join(' ');
      return `+${l.time - from}ms ${String(l['side'])}: ${l.msg ?? ''}${fields ? ` (${fields})` : ''}`;
    });
}
