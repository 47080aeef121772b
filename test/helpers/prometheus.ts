/**
 * Reads the Prometheus text format as a scraper does: `name{label="value",...} number` lines, comments
 * skipped. Enough for ferry's own exposition (no escaped quotes in its label values).
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The sum of a metric's samples whose labels include `where` (undefined when there is none). */
export function valueOf(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number | undefined {
  const matching = samples.filter((s) => s.name === name && Object.entries(where).every(([key, value]) => s.labels[key] === value));
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

/** GET /metrics with the bearer token, parsed. */
export async function scrape(baseUrl: string, token: string): Promise<Sample[]> {
  const response = await fetch(`${baseUrl.replace(/^ws/, 'http')}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${await response.text()}`);
  return parseExposition(await response.text());
}
