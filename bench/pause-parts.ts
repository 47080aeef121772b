/** The pause cut into its parts as the source measured them (the summary's `pauseTimeline`), for the benches' tables. */
export interface PauseStep {
  readonly step: string;
  readonly ms: number;
}

export interface PauseParts {
  /** What the row is (an image size). */
  readonly label: string;
  readonly pauseMs: number;
  readonly steps: readonly PauseStep[];
}

export const pauseStepsOf = (summary: Record<string, unknown>): PauseStep[] => (summary['pauseTimeline'] ?? []) as PauseStep[];

/** The pauses' parts side by side (ms); a part named twice in one pause (none is today) is summed. */
export function pausePartsTable(runs: readonly PauseParts[]): string {
  const steps = [...new Set(runs.flatMap((r) => r.steps.map((s) => s.step)))];
  const cell = (r: PauseParts, step: string): string =>
    r.steps.filter((s) => s.step === step).reduce((sum, s) => sum + s.ms, 0).toFixed(1);
  const header = ['pause parts (ms)', 'pause', ...steps];
  const body = runs.map((r) => [r.label, String(Math.round(r.pauseMs)), ...steps.map((step) => cell(r, step))]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  return [header, ...body].map((cells) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ')).join('\n') + '\n';
}
