import type { DaemonLine } from '@ferry/serve';

/** A line of `ferry source` and `ferry target` on stdout (apart from progress.ts, which loads the source agent). */
export function writeLine(line: DaemonLine, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(line)}\n`);
}
