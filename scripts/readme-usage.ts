/**
 * Keeps the README's usage block equal to what `ferry --help` prints, so that the two cannot drift.
 *   node --import tsx scripts/readme-usage.ts            rewrite the block between the markers
 *   node --import tsx scripts/readme-usage.ts --check    exit 1 and say so when the block is out of date
 *   --readme PATH                                        another file than the repository's README.md
 * It runs the built CLI (cli/bin/ferry.js), so build first: `npm run readme:usage` does both.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const BEGIN = '<!-- usage: generated from `ferry --help` by scripts/readme-usage.ts; edit cli/src/usage.ts -->';
const END = '<!-- usage: end -->';
const FERRY = fileURLToPath(new URL('../cli/bin/ferry.js', import.meta.url));
const README = fileURLToPath(new URL('../README.md', import.meta.url));

function helpText(): string {
  return execFileSync(process.execPath, [FERRY, '--help'], { encoding: 'utf8' });
}

/** The README with its usage block replaced by `help` in a code fence; throws when a marker is missing. */
function withUsage(readme: string, help: string): string {
  const begin = readme.indexOf(BEGIN);
  const end = readme.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`the README has no usage block: add the lines\n${BEGIN}\n${END}`);
  const block = `${BEGIN}\n\`\`\`\n${help.trimEnd()}\n\`\`\`\n`;
  return readme.slice(0, begin) + block + readme.slice(end);
}

function main(): number {
  const { values } = parseArgs({ options: { check: { type: 'boolean' }, readme: { type: 'string' } }, strict: true });
  const path = values.readme ?? README;
  const readme = readFileSync(path, 'utf8');
  const updated = withUsage(readme, helpText());
  if (updated === readme) return 0;
  if (values.check) {
    process.stderr.write(`${path}: the usage block differs from \`ferry --help\`; run npm run readme:usage\n`);
    return 1;
  }
  writeFileSync(path, updated);
  process.stderr.write(`${path}: usage block rewritten from \`ferry --help\`\n`);
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  process.stderr.write(`readme-usage: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}
