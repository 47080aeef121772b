/**
 * The import-boundary check: the arrows between ferry's packages run one way,
 *
 *     cli -> agents (agent-source, agent-target) -> packages/* -> protocol
 *
 * agents never import each other, packages never import agents or the cli, protocol imports nothing of
 * ferry, no relative import leaves its package, and each package.json declares exactly the packages its
 * sources import.
 *
 * The folders that ship nothing follow one rule too. `test/helpers/` is the harness that tests and
 * benchmarks share; it uses ferry's packages by name only. `bench/` and `scripts/` (tools) use packages by
 * name and may import the harness and the cli's sources (the cli exports nothing by name). Tests may
 * import the harness and the tools, and may open a package's sources by path to test a pure module the
 * package does not export. Nothing imports a `.test.ts` file.
 * All three belong to the root package.json, which declares what they import besides ferry's own packages.
 *
 * Inside a package the files import each other without circles, type imports included: a circle is two
 * files that cannot be read, tested or moved apart (`importCycles`).
 *
 * `checkImportBoundaries` and `importCycles` are pure (tested on synthetic input); `loadWorkspace` reads
 * the real tree.
 */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export type Layer = 'protocol' | 'package' | 'agent' | 'cli' | 'harness' | 'tool' | 'test';

export interface WorkspacePackage {
  /** Folder relative to the workspace root, e.g. `packages/pages`. */
  readonly folder: string;
  /** The npm name, e.g. `@ferry/pages`; the root's name for test/, bench/ and scripts/. */
  readonly name: string;
  readonly layer: Layer;
  /** The package.json that declares this folder's dependencies (folders may share the root's). */
  readonly manifest: string;
  readonly dependencies: readonly string[];
  /** Declared dependencies used as commands or types rather than imports (tsx, @types/*): never unused. */
  readonly tools?: readonly string[];
}

export interface SourceImports {
  /** Path relative to the workspace root. */
  readonly file: string;
  readonly specifiers: readonly string[];
}

export interface Violation {
  readonly file: string;
  readonly message: string;
}

const SHIPPED: readonly Layer[] = ['protocol', 'package', 'agent', 'cli'];

/** Which layers a layer may import by package name (besides itself for packages/*, whose libraries build on each other). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  protocol: [],
  package: ['protocol', 'package'],
  agent: ['protocol', 'package'],
  cli: ['protocol', 'package', 'agent'],
  harness: SHIPPED,
  tool: SHIPPED,
  test: SHIPPED,
};

/**
 * Which other folders' layers a relative import may reach. Tests open any package by path; tools open
 * only the cli, which is a command with no library entry to import by name (bench/plan.ts runs its
 * HiGHS solver).
 */
const MAY_REACH_BY_PATH: Record<Layer, readonly Layer[]> = {
  protocol: [],
  package: [],
  agent: [],
  cli: [],
  harness: ['harness'],
  tool: ['harness', 'cli'],
  test: ['harness', 'tool', 'test', ...SHIPPED],
};

const BUILTINS = new Set(builtinModules);

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`; undefined for relative paths and builtins. */
export function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return BUILTINS.has(name) ? undefined : name;
}

/** Every import, export-from, dynamic import() and import.meta.resolve() specifier of a TypeScript source. */
export function importSpecifiers(text: string): string[] {
  const resolved = [...text.matchAll(/import\.meta\.resolve\(\s*'([^']+)'/g)].map((match) => match[1]!);
  return [...ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName), ...resolved];
}

/** The folder a file belongs to; the deepest one wins (`test/helpers/x.ts` is the harness's, not test's). */
function ownerOf(file: string, packages: readonly WorkspacePackage[]): WorkspacePackage | undefined {
  const owners = packages.filter((p) => file === p.folder || file.startsWith(`${p.folder}/`));
  return owners.sort((a, b) => b.folder.length - a.folder.length)[0];
}

/** The violation of one relative import, if any. */
function checkRelative(file: string, specifier: string, owner: WorkspacePackage, packages: readonly WorkspacePackage[]): string | undefined {
  const target = join(dirname(file), specifier).split(sep).join('/');
  if (/\.test\.[jt]s$/.test(target)) return `imports the test file '${specifier}': move what it shares to test/helpers`;
  const reached = ownerOf(target, packages);
  if (reached === owner) return undefined;
  if (reached !== undefined && MAY_REACH_BY_PATH[owner.layer].includes(reached.layer)) return undefined;
  if (SHIPPED.includes(owner.layer)) return `relative import '${specifier}' leaves ${owner.folder}: import the package by name`;
  return `relative import '${specifier}' reaches ${reached?.folder ?? 'no checked folder'} from ${owner.folder} (${owner.layer}): the harness uses packages by name, tools also the harness and the cli's sources, tests also tools and package sources`;
}

/** The violations of one file's imports. */
function checkFile(source: SourceImports, owner: WorkspacePackage, byName: ReadonlyMap<string, WorkspacePackage>, packages: readonly WorkspacePackage[]): Violation[] {
  const violations: Violation[] = [];
  const flag = (message: string): void => void violations.push({ file: source.file, message });
  for (const specifier of source.specifiers) {
    if (specifier.startsWith('.')) {
      const message = checkRelative(source.file, specifier, owner, packages);
      if (message !== undefined) flag(message);
      continue;
    }
    const name = packageOf(specifier);
    if (name === undefined || name === owner.name) continue;
    const imported = byName.get(name);
    // The root's folders reach ferry's packages through the workspace links, not through dependencies.
    const linked = imported !== undefined && !SHIPPED.includes(owner.layer);
    if (!linked && !owner.dependencies.includes(name)) flag(`imports '${name}', which ${owner.manifest} does not list in dependencies`);
    if (imported === undefined) continue;
    if (!MAY_IMPORT[owner.layer].includes(imported.layer)) {
      flag(`${owner.folder} (${owner.layer}) imports ${imported.folder} (${imported.layer}): arrows run cli -> agents -> packages/* -> protocol`);
    }
  }
  return violations;
}

/**
 * All violations in a workspace. `pendingDependencies` names dependencies declared ahead of the code that
 * will import them (package -> names); each must really still be unused, or it is a violation too.
 */
export function checkImportBoundaries(
  packages: readonly WorkspacePackage[],
  sources: readonly SourceImports[],
  pendingDependencies: Readonly<Record<string, readonly string[]>> = {},
): Violation[] {
  const byName = new Map(packages.filter((p) => SHIPPED.includes(p.layer)).map((p) => [p.name, p]));
  const violations: Violation[] = [];
  const used = new Map<WorkspacePackage, Set<string>>(packages.map((p) => [p, new Set<string>()]));
  for (const source of sources) {
    const owner = ownerOf(source.file, packages);
    if (owner === undefined) {
      violations.push({ file: source.file, message: 'is in no workspace package' });
      continue;
    }
    violations.push(...checkFile(source, owner, byName, packages));
    for (const specifier of source.specifiers) {
      const name = packageOf(specifier);
      if (name !== undefined) used.get(owner)!.add(name);
    }
  }
  return [...violations, ...checkDeclared(used, pendingDependencies)];
}

/** Each manifest's dependencies are imported by some folder it declares for (or are tools, or pending). */
function checkDeclared(used: ReadonlyMap<WorkspacePackage, ReadonlySet<string>>, pendingDependencies: Readonly<Record<string, readonly string[]>>): Violation[] {
  const violations: Violation[] = [];
  const manifests = new Set([...used.keys()].map((p) => p.manifest));
  for (const manifest of manifests) {
    const members = [...used.keys()].filter((p) => p.manifest === manifest);
    const names = new Set(members.flatMap((p) => [...used.get(p)!]));
    const folders = members.map((p) => p.folder).join(', ');
    const pending = pendingDependencies[dirname(manifest)] ?? [];
    for (const dependency of members[0]!.dependencies) {
      const isPending = pending.includes(dependency);
      const isTool = members[0]!.tools?.includes(dependency) ?? false;
      if (!names.has(dependency) && !isPending && !isTool) {
        violations.push({ file: manifest, message: `lists '${dependency}' in dependencies, but no source of ${folders} imports it` });
      }
      if (names.has(dependency) && isPending) {
        violations.push({ file: manifest, message: `'${dependency}' is imported now: take it off the pending list of the import-boundary test` });
      }
    }
  }
  return violations;
}

/** The source a relative specifier names (`./x.js` is `x.ts`, `./dir` is `dir/index.ts`), if it is one of `files`. */
function resolveRelative(file: string, specifier: string, files: ReadonlySet<string>): string | undefined {
  const path = join(dirname(file), specifier).split(sep).join('/');
  return [path.replace(/\.js$/, '.ts'), `${path}.ts`, `${path}/index.ts`].find((candidate) => files.has(candidate));
}

/**
 * The import circles among `sources`: each group of files that reach one another by relative imports
 * (a strongly connected component, found with Tarjan's algorithm), its files sorted, the groups sorted.
 */
export function importCycles(sources: readonly SourceImports[]): string[][] {
  const files = new Set(sources.map((s) => s.file));
  const edges = new Map(sources.map((s) => [s.file, s.specifiers.flatMap((spec) => (spec.startsWith('.') ? [resolveRelative(s.file, spec, files)] : []))
    .filter((target): target is string => target !== undefined)]));
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (file: string): void => {
    order.set(file, order.size);
    low.set(file, order.get(file)!);
    stack.push(file);
    for (const next of edges.get(file)!) {
      if (!order.has(next)) visit(next);
      if (stack.includes(next)) low.set(file, Math.min(low.get(file)!, low.get(next)!));
    }
    if (low.get(file) !== order.get(file)) return;
    const group = stack.splice(stack.indexOf(file));
    if (group.length > 1 || edges.get(file)!.includes(file)) cycles.push(group.sort());
  };
  for (const file of files) if (!order.has(file)) visit(file);
  return cycles.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

function layerOf(folder: string): Layer {
  if (folder === 'protocol') return 'protocol';
  if (folder === 'cli') return 'cli';
  if (folder.startsWith('agent-')) return 'agent';
  if (folder.startsWith('packages/')) return 'package';
  throw new Error(`workspace ${folder} is in no layer: add it to layerOf in test/helpers/import-boundaries.ts`);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    if (entry === 'node_modules' || entry === 'dist') return [];
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

interface Manifest {
  name: string;
  workspaces?: string[];
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  tap?: { 'node-arg'?: string[] };
}

/** The folders that ship nothing, all declared by the root package.json. */
const ROOT_FOLDERS: ReadonlyArray<readonly [string, Layer]> = [['test/helpers', 'harness'], ['test', 'test'], ['bench', 'tool'], ['scripts', 'tool']];

/** The root's test, harness and tool folders: what they import is the root's dependencies and devDependencies. */
function rootFolders(manifest: Manifest): WorkspacePackage[] {
  const dependencies = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
  const commands = JSON.stringify([manifest.scripts ?? {}, manifest.tap?.['node-arg'] ?? []]);
  const tools = dependencies.filter((d) => d.startsWith('@types/') || new RegExp(`\\b${d}\\b`).test(commands));
  return ROOT_FOLDERS.map(([folder, layer]) => ({ folder, name: manifest.name, layer, manifest: 'package.json', dependencies, tools }));
}

/**
 * The workspaces named in the root package.json and the root's own folders (test/, bench/, scripts/),
 * with every .ts file under each (dist and node_modules aside).
 */
export function loadWorkspace(root: string): { packages: WorkspacePackage[]; sources: SourceImports[] } {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Manifest;
  const workspaces = (rootManifest.workspaces ?? []).map((folder): WorkspacePackage => {
    const manifest = JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as Manifest;
    return { folder, name: manifest.name, layer: layerOf(folder), manifest: `${folder}/package.json`, dependencies: Object.keys(manifest.dependencies ?? {}) };
  });
  const packages = [...workspaces, ...rootFolders(rootManifest)];
  // test/helpers is inside test: read each file once, from the outermost folder.
  const outermost = packages.filter((p) => !packages.some((q) => p.folder.startsWith(`${q.folder}/`)));
  const sources = outermost.flatMap((p) => tsFiles(resolve(root, p.folder)).map((path): SourceImports => ({
    file: relative(root, path).split(sep).join('/'),
    specifiers: importSpecifiers(readFileSync(path, 'utf8')),
  })));
  return { packages, sources };
}
