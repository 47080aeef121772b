import { isValidName } from '@ferry/protocol';
import { UsageError } from './usage.js';

/** NAME=VALUE options (--image, --state, --disk, --base): valid, distinct names. */
export function pairs(values: readonly string[], flag: string): Array<[string, string]> {
  const seen = new Set<string>();
  return values.map((value) => {
    const at = value.indexOf('=');
    const name = value.slice(0, at);
    const path = value.slice(at + 1);
    if (at <= 0 || !path) throw new UsageError(`${flag} ${value} must be NAME=${flag === '--disk' ? 'NODE' : 'PATH'}`);
    if (!isValidName(name)) throw new UsageError(`${flag} name "${name}" is not allowed: use 1-64 of A-Z a-z 0-9 . _ -, not starting with -`);
    if (seen.has(name)) throw new UsageError(`${flag} name "${name}" is given twice`);
    seen.add(name);
    return [name, path];
  });
}
