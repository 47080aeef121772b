import { closeSync, fstatSync, openSync } from 'node:fs';
import { DEFAULT_BASE_PAGE_SIZE, type BaseImage } from '@ferry/agent-target';
import { isValidName, isValidPageSize, MAX_PAGE_SIZE, MIN_PAGE_SIZE } from '@ferry/protocol';
import { pairs } from './name-pairs.js';
import { parseSize } from './units.js';
import { UsageError } from './usage.js';

/** The options a `--base` may end with; read from the end, so a path may itself hold commas. */
const OPTION_AT_END = /,(page|id)=([^,]*)$/;

/**
 * `--base NAME=PATH[,page=BYTES][,id=MIGRATION_ID]`: an older copy of image NAME, used only with the
 * page size given (default 4096) and, with `id=`, only by that migration. The file is checked here, at
 * start, so a typo is a usage error rather than a silently cold migration later.
 */
export function parseBases(values: readonly string[]): Record<string, BaseImage> {
  return Object.fromEntries(pairs(values, '--base').map(([name, spec]) => [name, parseBase(name, spec)]));
}

function parseBase(name: string, spec: string): BaseImage {
  let path = spec;
  const options = new Map<string, string>();
  for (let match = OPTION_AT_END.exec(path); match; match = OPTION_AT_END.exec(path)) {
    const [, key = '', value = ''] = match;
    if (options.has(key)) throw new UsageError(`--base ${name}: ${key}= is given twice`);
    options.set(key, value);
    path = path.slice(0, match.index);
  }
  if (!path) throw new UsageError(`--base ${name}=${spec} names no file: use NAME=PATH[,page=BYTES][,id=MIGRATION_ID]`);
  const pageText = options.get('page');
  const pageSize = pageText !== undefined ? parseSize(pageText, `--base ${name} page size`) : DEFAULT_BASE_PAGE_SIZE;
  if (!isValidPageSize(pageSize)) throw new UsageError(`--base ${name}: page size ${pageSize} must be a power of two from ${MIN_PAGE_SIZE} to ${MAX_PAGE_SIZE}`);
  const migrationId = options.get('id');
  if (migrationId !== undefined && !isValidName(migrationId)) throw new UsageError(`--base ${name}: id "${migrationId}" is not a valid migration id (1-64 of A-Z a-z 0-9 . _ -)`);
  checkBaseFile(name, path, pageSize);
  return { path, pageSize, ...(migrationId !== undefined ? { migrationId } : {}) };
}

function checkBaseFile(name: string, path: string, pageSize: number): void {
  let size: number;
  try {
    const fd = openSync(path, 'r');
    try {
      const found = fstatSync(fd);
      if (!found.isFile()) throw new Error('not a regular file');
      size = found.size;
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    throw new UsageError(`--base ${name}=${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (size === 0 || size % pageSize !== 0) throw new UsageError(`--base ${name}=${path} is ${size} bytes, not a positive multiple of its ${pageSize}-byte page size`);
}
