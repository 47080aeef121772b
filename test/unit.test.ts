/**
 * Every file in test/unit, run in this one process. As 48 processes of their own (node, tap's per-process
 * loader, and each loading the same modules again, HiGHS's WebAssembly among them) the files took 131 CPU
 * s one after another, here 41. The suite is bound by CPU on a 2-core machine. Each file still runs
 * alone with `npx tap --node-arg=--import=tsx test/unit/FILE.test.ts`; tap's `include` leaves test/unit
 * to this file.
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
