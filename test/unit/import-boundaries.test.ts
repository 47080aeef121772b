import t from 'tap';
import { checkImportBoundaries, importCycles, importSpecifiers, loadWorkspace, packageOf, type SourceImports, type WorkspacePackage } from '../helpers/import-boundaries.js';
import { REPO_ROOT } from '../helpers/repo.js';

/**
 * Dependencies declared ahead of the code that imports them. Each entry says who will use it; the check
 * fails once an entry is imported (take it off then) and fails for any other unused dependency.
 */
const PENDING_DEPENDENCIES: Record<string, readonly string[]> = {};

t.test('the workspace keeps its import boundaries', async (t) => {
  const { packages, sources } = loadWorkspace(REPO_ROOT);
  t.ok(sources.length > 50, `read ${sources.length} sources in ${packages.length} packages`);
  for (const folder of ['test/unit', 'test/helpers', 'bench']) t.ok(sources.some((s) => s.file.startsWith(`${folder}/`)), `sources of ${folder} are read`);
  t.equal(new Set(sources.map((s) => s.file)).size, sources.length, 'each file is read once');
  for (const folder of ['protocol', 'packages/pages', 'packages/throttle', 'agent-source', 'agent-target', 'cli', 'test', 'test/helpers', 'bench', 'scripts']) {
    t.ok(packages.some((p) => p.folder === folder), `${folder} is checked`);
  }
  const violations = checkImportBoundaries(packages, sources, PENDING_DEPENDENCIES);
  t.same(violations, [], violations.map((v) => `${v.file}: ${v.message}`).join('\n') || 'no violations');
});


t.test('no file imports itself back through others (type imports included)', async (t) => {
  const cycles = importCycles(loadWorkspace(REPO_ROOT).sources);
  t.same(cycles, [], `circles: ${JSON.stringify(cycles)}`);
});

t.test('importCycles finds each circle once, however long, and nothing else', async (t) => {
  const source = (file: string, ...specifiers: string[]): SourceImports => ({ file, specifiers });
  t.same(importCycles([
    source('p/src/a.ts', './b.js', 'node:fs', '@ferry/protocol'),
    source('p/src/b.ts', './sub/c.js'),
    source('p/src/sub/c.ts', '../a.js', '../d.js'),
    source('p/src/d.ts', './e'),
    source('p/src/e.ts', './sub'),
    source('p/src/sub/index.ts'),
    source('p/src/self.ts', './self.js'),
    source('q/src/x.ts', './y.js', '../../p/src/a.js'),
    source('q/src/y.ts', './x.js', '../package.json'),
  ]), [
    ['p/src/a.ts', 'p/src/b.ts', 'p/src/sub/c.ts'],
    ['p/src/self.ts'],
    ['q/src/x.ts', 'q/src/y.ts'],
  ], 'a three-file circle, a self-import and a pair; a chain into a folder\'s index is no circle');
  t.same(importCycles([source('a.ts', './b.js'), source('b.ts', './c.js'), source('c.ts')]), [], 'a chain');
});

const synthetic: WorkspacePackage[] = [
  { folder: 'protocol', name: '@ferry/protocol', layer: 'protocol', manifest: 'protocol/package.json', dependencies: ['msgpack-lite'] },
  { folder: 'packages/pages', name: '@ferry/pages', layer: 'package', manifest: 'packages/pages/package.json', dependencies: ['@ferry/protocol'] },
  { folder: 'packages/wan', name: '@ferry/wan', layer: 'package', manifest: 'packages/wan/package.json', dependencies: [] },
  { folder: 'agent-source', name: '@ferry/agent-source', layer: 'agent', manifest: 'agent-source/package.json', dependencies: ['@ferry/protocol', '@ferry/pages', '@ferry/agent-target'] },
  { folder: 'agent-target', name: '@ferry/agent-target', layer: 'agent', manifest: 'agent-target/package.json', dependencies: ['@ferry/protocol'] },
  { folder: 'cli', name: 'ferry', layer: 'cli', manifest: 'cli/package.json', dependencies: ['@ferry/agent-source', '@ferry/agent-target', 'pino'] },
];

const clean: SourceImports[] = [
  { file: 'protocol/src/codec.ts', specifiers: ['msgpack-lite', './errors.js', 'node:crypto', 'fs'] },
  { file: 'packages/pages/src/scan.ts', specifiers: ['@ferry/protocol', 'node:worker_threads', './hash.js'] },
  { file: 'agent-source/src/migration.ts', specifiers: ['@ferry/protocol', '@ferry/pages/dist/x.js', '@ferry/agent-target'] },
  { file: 'agent-target/src/server.ts', specifiers: ['@ferry/protocol'] },
  { file: 'cli/src/main.ts', specifiers: ['@ferry/agent-source', '@ferry/agent-target', 'pino', '../package.json'] },
];

t.test('the checker passes a clean workspace and flags each kind of violation', async (t) => {
  const messages = (sources: SourceImports[], packages = synthetic): string[] =>
    checkImportBoundaries(packages, sources).map((v) => `${v.file}: ${v.message}`);
  // agent-source -> agent-target is the one violation in `clean`: agents never import each other.
  t.same(messages(clean), ['agent-source/src/migration.ts: agent-source (agent) imports agent-target (agent): arrows run cli -> agents -> packages/* -> protocol']);
  const withoutAgentImport = clean.map((s) => (s.file === 'agent-source/src/migration.ts' ? { ...s, specifiers: ['@ferry/protocol', '@ferry/pages'] } : s));
  const agentsApart = synthetic.map((p) => (p.folder === 'agent-source' ? { ...p, dependencies: ['@ferry/protocol', '@ferry/pages'] } : p));
  t.same(messages(withoutAgentImport, agentsApart), [], 'clean once the agents are apart');

  const add = (file: string, specifier: string): SourceImports[] => [...withoutAgentImport, { file, specifiers: [specifier] }];
  t.match(messages(add('protocol/src/x.ts', '@ferry/pages'), agentsApart), [/protocol\/src\/x\.ts: imports '@ferry\/pages', which protocol\/package\.json does not list/, /protocol \(protocol\) imports packages\/pages \(package\)/], 'protocol imports a package');
  const pagesKnowsAgent = agentsApart.map((p) => (p.folder === 'packages/pages' ? { ...p, dependencies: ['@ferry/protocol', '@ferry/agent-target'] } : p));
  t.same(messages(add('packages/pages/src/y.ts', '@ferry/agent-target'), pagesKnowsAgent), ['packages/pages/src/y.ts: packages/pages (package) imports agent-target (agent): arrows run cli -> agents -> packages/* -> protocol'], 'a package imports an agent');
  t.match(messages(add('packages/wan/src/z.ts', '../../pages/src/hash.js'), agentsApart), [/relative import \S+pages\/src\/hash\.js' leaves packages\/wan/], 'a relative import into another package');
  t.match(messages(add('cli/src/w.ts', 'ws'), agentsApart), [/cli\/src\/w\.ts: imports 'ws', which cli\/package\.json does not list/], 'an undeclared dependency');
  const unused = agentsApart.map((p) => (p.folder === 'packages/wan' ? { ...p, dependencies: ['lodash'] } : p));
  t.same(messages(withoutAgentImport, unused), ["packages/wan/package.json: lists 'lodash' in dependencies, but no source of packages/wan imports it"], 'an unused dependency');
  t.same(checkImportBoundaries(unused, withoutAgentImport, { 'packages/wan': ['lodash'] }), [], 'unless it is pending');
  t.match(checkImportBoundaries(agentsApart, withoutAgentImport, { cli: ['pino'] }).map((v) => v.message), [/'pino' is imported now: take it off the pending list/], 'a pending entry that is used');
  t.match(messages([...withoutAgentImport, { file: 'bench/run.ts', specifiers: [] }], agentsApart), [/bench\/run\.ts: is in no workspace package/]);
});

const rootFolders: WorkspacePackage[] = [
  ...synthetic.filter((p) => p.folder !== 'agent-source').map((p) => ({ ...p, dependencies: [] })),
  ...([['test/helpers', 'harness'], ['test', 'test'], ['bench', 'tool']] as const).map(([folder, layer]): WorkspacePackage => (
    { folder, name: 'ferry-workspace', layer, manifest: 'package.json', dependencies: ['tap', 'ws', 'tsx'], tools: ['tsx'] })),
];

const rootSources: SourceImports[] = [
  { file: 'test/helpers/ferry.ts', specifiers: ['@ferry/protocol', './wait.js', 'node:child_process'] },
  { file: 'test/unit/x.test.ts', specifiers: ['tap', '../helpers/ferry.js', '../../bench/parse.js', '../../cli/src/units.js', './fixture.js'] },
  { file: 'bench/run.ts', specifiers: ['ws', '../test/helpers/ferry.js', './parse.js', '@ferry/agent-target'] },
];

t.test('tests, the harness and tools: packages by name, the harness shared, package sources open to tests only', async (t) => {
  const messages = (sources: SourceImports[], packages = rootFolders): string[] =>
    checkImportBoundaries(packages, sources).map((v) => `${v.file}: ${v.message}`);
  t.same(messages(rootSources), [], 'clean: ferry\'s packages need no root dependency, tsx is a tool, tap and ws are imported');
  const add = (file: string, specifier: string): string[] => messages([...rootSources, { file, specifiers: [specifier] }]);
  t.match(add('bench/y.ts', '../test/e2e/guest.js'), [/bench\/y\.ts: relative import \S+ reaches test from bench \(tool\)/], 'a tool reaches past the harness into the tests');
  t.match(add('bench/y.ts', '../packages/pages/src/hash.js'), [/reaches packages\/pages from bench \(tool\)/], 'a tool opens a package by path');
  t.same(add('bench/y.ts', '../cli/src/highs-solver.js'), [], 'but may open the cli, which exports nothing by name');
  t.match(add('test/helpers/y.ts', '../../bench/run.js'), [/reaches bench from test\/helpers \(harness\)/], 'the harness imports a tool');
  t.match(add('test/helpers/y.ts', '../unit/x.test.js'), [/imports the test file '..\/unit\/x\.test\.js'/], 'the harness imports a test file');
  t.match(add('test/unit/y.test.ts', './x.test.js'), [/imports the test file/], 'a test imports another test file');
  t.match(add('test/unit/y.test.ts', 'pino'), [/test\/unit\/y\.test\.ts: imports 'pino', which package\.json does not list in dependencies/], 'an import the root does not declare');
  const unusedWs = rootSources.map((s) => (s.file === 'bench/run.ts' ? { ...s, specifiers: ['../test/helpers/ferry.js'] } : s));
  t.same(messages(unusedWs), ["package.json: lists 'ws' in dependencies, but no source of test/helpers, test, bench imports it"], 'a root dependency nothing imports');
});

t.test('specifiers come from imports, re-exports, type imports, dynamic import() and import.meta.resolve()', async (t) => {
  // \u0027 keeps this file's own text free of a resolve('...') that the boundary check would count as an import.
  const text = "import type { A } from 'a';\nimport b from '@s/b/deep.js';\nexport * from './c.js';\nexport { d } from 'd';\nconst e = await import('e');\nimport 'f';\n// import 'not-code';\nconst g = import.meta.resolve(\u0027g/dist/x.js\u0027);\n";
  t.same(importSpecifiers(text), ['a', '@s/b/deep.js', './c.js', 'd', 'e', 'f', 'g/dist/x.js']);
  t.same(['@s/b/deep.js', 'ws', 'fs', 'node:fs', 'fs/promises', './x.js'].map(packageOf), ['@s/b', 'ws', undefined, undefined, undefined, undefined]);
});
