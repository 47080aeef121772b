/**
 * Runs every test file of a folder in the one process of the tap file that calls it: `test/unit.test.ts`,
 * `test/target.test.ts`, `test/faults.test.ts`. tap gives each test file a process of its own with its
 * own loader thread (it records the files each process loads), which costs about 1.3 CPU s a file before
 * any test runs; the suite is bound by CPU on a 2-core machine. As 48 processes the unit files took 131 CPU
 * s, in one 41; the 14 target files 57 CPU s, in one 40. Each file still runs alone with
 * `npx tap --node-arg=--import=tsx test/FOLDER/FILE.test.ts`; tap's `include` leaves these folders to
 * their runners.
 *
 * The files are found by listing the folder, so a new one cannot be left out. Their tests land on tap's
 * root test side by side, and a failing assertion's location names its file.
 */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Imports each `*.test` file of `folder`, a URL relative to the runner's own `runnerUrl` (its import.meta.url). */
export async function runFolder(folder: string, runnerUrl: string): Promise<void> {
  const folderUrl = new URL(`./${folder}/`, runnerUrl);
  // Compiled, a runner is FOLDER.test.js beside FOLDER/*.test.js; under tsx both are .ts.
  const suffix = `.test${extname(fileURLToPath(runnerUrl))}`;
  const files = readdirSync(folderUrl).filter((name) => name.endsWith(suffix)).sort();
  t.ok(files.length > 0, `test/${folder} holds test files (${files.length} found)`);
  for (const file of files) {
    try {
      await import(new URL(file, folderUrl).href);
    } catch (error) {
      t.fail(`test/${folder}/${file} could not be loaded: ${String(error)}`);
    }
  }
}
