/**
 * Every file in test/unit, run in this one process. Their assertions take about 30 CPU s in all, while a
 * test process of its own costs each file about 1.3 CPU s more (node, and the per-process loader tap puts
 * into every test process): the 48 files took 108 CPU s as 48 processes and 43 as one. The suite is bound
 * by CPU on a 2-core machine, so that is half a minute of `npm test`. Each file still runs alone with
 * `npx tap --node-arg=--import=tsx test/unit/FILE.test.ts`; tap's `include` leaves test/unit to this file.
 *
 * The files are found by listing the folder, so a new one cannot be left out. Their tests land on tap's
 * root test side by side, and a failing assertion's location names its file.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const folder = new URL('./unit/', import.meta.url);
// Compiled, this is unit.test.js beside unit/*.test.js; under tsx both are .ts.
const suffix = `.test${extname(fileURLToPath(import.meta.url))}`;
const files = readdirSync(folder).filter((name) => name.endsWith(suffix)).sort();

t.ok(files.length > 0, `test/unit holds test files (${files.length} found)`);
for (const file of files) {
  try {
    await import(new URL(file, folder).href);
  } catch (error) {
    t.fail(`test/unit/${file} could not be loaded: ${String(error)}`);
  }
}
