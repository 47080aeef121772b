/**
 * Lists the files over 300 lines and the functions over 60 lines (STYLE: "no function over ~60 lines, no
 * file over ~300 lines without a comment saying why") in the folders given, default every workspace.
 *   node --import tsx scripts/long-code.ts [FOLDER...]
 * Functions are found with the TypeScript parser: declarations, methods, accessors, constructors, and
 * function expressions and arrows; a function's lines run from its first to its last line.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 60;
const ROOT = new URL('..', import.meta.url).pathname;
const DEFAULT_FOLDERS = ['protocol', 'packages', 'agent-source', 'agent-target', 'cli'];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    if (entry === 'node_modules' || entry === 'dist') return [];
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

function functionName(node: ts.Node, source: ts.SourceFile): string {
  if ((ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) && node.name) {
    return node.name.getText(source);
  }
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) return parent.name.getText(source);
  return '(anonymous)';
}

function longFunctions(path: string): string[] {
  const text = readFileSync(path, 'utf8');
  const source = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = last - first + 1;
      if (lines > MAX_FUNCTION_LINES) found.push(`  ${functionName(node, source)} (line ${first + 1}): ${lines} lines`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const folders = process.argv.slice(2).length > 0 ? process.argv.slice(2) : DEFAULT_FOLDERS;
for (const folder of folders) {
  for (const path of tsFiles(join(ROOT, folder)).sort()) {
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    const functions = longFunctions(path);
    if (lines <= MAX_FILE_LINES && functions.length === 0) continue;
    process.stdout.write(`${relative(ROOT, path)}: ${lines} lines${lines > MAX_FILE_LINES ? ` (over ${MAX_FILE_LINES})` : ''}\n`);
    for (const line of functions) process.stdout.write(`${line}\n`);
  }
}
