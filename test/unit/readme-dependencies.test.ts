/**
 * The README's "Dependencies" table names exactly the npm packages ferry runs with: the dependencies of
 * every workspace, less ferry's own packages. A package added to (or dropped from) a package.json
 * without a line in the table fails here.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { repoPath } from '../helpers/repo.js';

const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(repoPath(path), 'utf8')) as Record<string, unknown>;

function runtimeDependencies(): string[] {
  const workspaces = readJson('package.json')['workspaces'] as string[];
  const names = workspaces.flatMap((folder) => Object.keys((readJson(`${folder}/package.json`)['dependencies'] ?? {}) as Record<string, string>));
  return [...new Set(names.filter((name) => !name.startsWith('@ferry/')))].sort();
}

/** The package names in the first column of the table under "## Dependencies". */
function readmeTable(): string[] {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Dependencies\n')) ?? '';
  const firstCells = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1] ?? '');
  return [...new Set(firstCells.flatMap((cell) => [...cell.matchAll(/`([^`]+)`/g)].map((match) => match[1]!)))].sort();
}

t.test("the README's dependency table lists every run-time npm package, and only those", async (t) => {
  const used = runtimeDependencies();
  t.ok(used.length > 0, 'the workspaces have dependencies');
  t.same(readmeTable(), used);
});
