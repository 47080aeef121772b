import { scenarioError } from './errors.js';

/**
 * Collects schema problems instead of stopping at the first, so one run of `ferry plan` lists all of
 * them. Each accessor returns a usable placeholder after recording a problem; `done()` throws if any.
 */
export class Check {
  readonly #problems: string[] = [];

  fail(path: string, message: string): void {
    this.#problems.push(`${path}: ${message}`);
  }

  done(): void {
    if (this.#problems.length > 0) throw scenarioError(this.#problems);
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
    this.fail(path, `expected an object, got ${describe(value)}`);
    return {};
  }

  array(value: unknown, path: string): unknown[] {
    if (Array.isArray(value)) return value;
    this.fail(path, `expected an array, got ${describe(value)}`);
    return [];
  }

  string(value: unknown, path: string): string {
    if (typeof value === 'string' && value.length > 0) return value;
    this.fail(path, `expected a non-empty string, got ${describe(value)}`);
    return '?';
  }

  number(value: unknown, path: string, min: number): number {
    if (typeof value === 'number' && Number.isFinite(value) && value >= min) return value;
    this.fail(path, `expected a number >= ${min}, got ${describe(value)}`);
    return min;
  }

  /** A finite number above 0 (a size or a rate where 0 would make the plan meaningless). */
  positive(value: unknown, path: string): number {
    if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value;
    this.fail(path, `expected a number > 0, got ${describe(value)}`);
    return 1;
  }

  integer(value: unknown, path: string, min: number, max: number): number {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    this.fail(path, `expected an integer in ${min}..${max}, got ${describe(value)}`);
    return min;
  }

  member(value: unknown, path: string, known: ReadonlySet<string>): string {
    const name = this.string(value, path);
    if (name !== '?' && !known.has(name)) this.fail(path, `"${name}" is not one of ${[...known].join(', ')}`);
    return name;
  }

  optionalUrl(value: unknown, path: string, scheme: RegExp): string | undefined {
    if (value === undefined) return undefined;
    const url = this.string(value, path);
    if (url !== '?' && !scheme.test(url)) this.fail(path, `expected a URL matching ${scheme.source}, got "${url}"`);
    return url;
  }

  unique(names: readonly string[], path: string, field: string): void {
    const seen = new Set<string>();
    for (const name of names) {
      if (seen.has(name)) this.fail(path, `${field} "${name}" appears twice`);
      seen.add(name);
    }
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (Array.isArray(value)) return 'an array';
  // JSON.parse turns 1e400 into Infinity, which JSON.stringify would print as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return 'a number out of range';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
