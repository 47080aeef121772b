/**
 * The import-boundary check: the arrows between ferry's packages run one way,
 *
 *     cli -> agents (agent-source, agent-target) -> packages/* -> protocol
 *
 * agents never import each other, packages never import agents or the cli, protocol imports nothing of
 * ferry, no relative import leaves its package, and each package.json declares exactly the packages its
 * sources import. `checkImportBoundaries` is pure (tested on synthetic input); `loadWorkspace` reads the
 * real tree.
 */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

export type Layer = 'protocol' | 'package' | 'agent' | 'cli';

export interface WorkspacePackage {
  /** Folder relative to the workspace root, e.g. `packages/pages`. */
  readonly folder: string;
  /** The npm name, e.g. `@ferry/pages`. */
  readonly name: string;
  readonly layer: Layer;
  readonly dependencies: readonly string[];
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

/** Which layers a layer may import (besides itself for packages/*, whose libraries build on each other). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  protocol: [],
  package: ['protocol', 'package'],
  agent: ['protocol', 'package'],
  cli: ['protocol', 'package', 'agent'],
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

function ownerOf(file: string, packages: readonly WorkspacePackage[]): WorkspacePackage | undefined {
  return packages.find((p) => file === p.folder || file.startsWith(`${p.folder}/`));
}

/** The violations of one file's imports. */
function checkFile(source: SourceImports, owner: WorkspacePackage, byName: ReadonlyMap<string, WorkspacePackage>, packages: readonly WorkspacePackage[]): Violation[] {
  const violations: Violation[] = [];
  const flag = (message: string): void => void violations.push({ file: source.file, message });
  for (const specifier of source.specifiers) {
    if (specifier.startsWith('.')) {
      const target = join(dirname(source.file), specifier).split(sep).join('/');
      if (ownerOf(target, packages) !== owner) flag(`relative import '${specifier}' leaves ${owner.folder}: import the package by name`);
      continue;
    }
    const name = packageOf(specifier);
    if (name === undefined || name === owner.name) continue;
    if (!owner.dependencies.includes(name)) flag(`imports '${name}', which ${owner.folder}/package.json does not list in dependencies`);
    const imported = byName.get(name);
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
  const byName = new Map(packages.map((p) => [p.name, p]));
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
  for (const [owner, names] of used) {
    const pending = pendingDependencies[owner.folder] ?? [];
    for (const dependency of owner.dependencies) {
      const isPending = pending.includes(dependency);
      if (!names.has(dependency) && !isPending) {
        violations.push({ file: `${owner.folder}/package.json`, message: `lists '${dependency}' in dependencies, but no source of ${owner.folder} imports it` });
      }
      if (names.has(dependency) && isPending) {
        violations.push({ file: `${owner.folder}/package.json`, message: `'${dependency}' is imported now: take it off the pending list of the import-boundary test` });
      }
    }
  }
  return violations;
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

/** The workspaces named in the root package.json, with every .ts file under each (dist and node_modules aside). */
export function loadWorkspace(root: string): { packages: WorkspacePackage[]; sources: SourceImports[] } {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  const packages = rootManifest.workspaces.map((folder): WorkspacePackage => {
    const manifest = JSON.parse(readFileSync(join(root, folder, 'package.json'), 'utf8')) as { name: string; dependencies?: Record<string, string> };
    return { folder, name: manifest.name, layer: layerOf(folder), dependencies: Object.keys(manifest.dependencies ?? {}) };
  });
  const sources = packages.flatMap((p) => tsFiles(resolve(root, p.folder)).map((path): SourceImports => ({
    file: relative(root, path).split(sep).join('/'),
    specifiers: importSpecifiers(readFileSync(path, 'utf8')),
  })));
  return { packages, sources };
}
