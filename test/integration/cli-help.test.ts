/**
 * The usage texts come from one place: `ferry --help` names every flag each command accepts (and marks
 * the repeatable ones), `ferry COMMAND --help` documents each of them, and the README's usage block is
 * `ferry --help` verbatim (scripts/readme-usage.ts rewrites it).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { AUTOPILOT_FLAGS } from '../../cli/src/commands/autopilot.js';
import { DEMO_FLAGS } from '../../cli/src/commands/demo.js';
import { MIGRATE_COMMAND_FLAGS } from '../../cli/src/commands/migrate.js';
import { PLAN_FLAGS } from '../../cli/src/commands/plan.js';
import { RECOVER_FLAGS } from '../../cli/src/commands/recover.js';
import { SOURCE_FLAGS } from '../../cli/src/commands/source.js';
import { STATUS_FLAGS } from '../../cli/src/commands/status.js';
import { TARGET_FLAGS } from '../../cli/src/commands/target.js';
import { WAN_PROXY_FLAGS } from '../../cli/src/commands/wan-proxy.js';
import { WORKLOAD_FLAGS } from '../../cli/src/commands/workload.js';
import type { FlagSpec } from '../../cli/src/flags.js';
import { FERRY, scratchDir } from '../helpers/ferry.js';
import { repoPath } from '../helpers/repo.js';

const COMMANDS: Record<string, FlagSpec> = {
  target: TARGET_FLAGS, migrate: MIGRATE_COMMAND_FLAGS, recover: RECOVER_FLAGS, source: SOURCE_FLAGS, status: STATUS_FLAGS,
  demo: DEMO_FLAGS, workload: WORKLOAD_FLAGS, 'wan-proxy': WAN_PROXY_FLAGS, plan: PLAN_FLAGS, autopilot: AUTOPILOT_FLAGS,
};
/** `ferry --help` explains these once, in its "Logging" paragraph, instead of on every command's lines. */
const EXPLAINED_ONCE = new Set(['help', 'log-level', 'log-file']);
const README = repoPath('README.md');
const README_USAGE = repoPath('scripts', 'readme-usage.ts');

async function commandHelp(name: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [FERRY, name, '--help'], { encoding: 'utf8' });
  return stdout;
}

/** The lines of `ferry --help` that start with `ferry NAME`, up to the next command or a blank line. */
function overviewLines(overview: string, name: string): string {
  const lines = overview.split('\n');
  const first = lines.findIndex((line) => line.startsWith(`  ferry ${name} `));
  if (first < 0) return '';
  const rest = lines.slice(first + 1).findIndex((line) => line.startsWith('  ferry ') || line.trim() === '');
  return lines.slice(first, rest < 0 ? undefined : first + 1 + rest).join('\n');
}

function flagsNamedIn(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((match) => match[1]!));
}

function mentions(text: string, flag: string): boolean {
  return new RegExp(`(?<![\\w-])--${flag}(?![\\w-])`).test(text);
}

const overview = execFileSync(process.execPath, [FERRY, '--help'], { encoding: 'utf8' });

t.test('ferry --help lists every command, and each command line names exactly the flags it accepts', async (t) => {
  for (const [name, spec] of Object.entries(COMMANDS)) {
    const lines = overviewLines(overview, name);
    t.not(lines, '', `ferry --help has a line for ${name}`);
    const accepted = Object.keys(spec).filter((flag) => !EXPLAINED_ONCE.has(flag));
    const missing = accepted.filter((flag) => !mentions(lines, flag));
    t.same(missing, [], `ferry --help names every flag ferry ${name} accepts`);
    const unknown = [...flagsNamedIn(lines)].filter((flag) => !(flag in spec));
    t.same(unknown, [], `ferry --help names no flag ferry ${name} rejects`);
    const repeatable = accepted.filter((flag) => spec[flag]?.multiple === true);
    const unmarked = repeatable.filter((flag) => !new RegExp(`--${flag}\\b[^\\]\\n]*\\.\\.\\.`).test(lines));
    t.same(unmarked, [], `ferry --help marks the repeatable flags of ferry ${name} with "..."`);
  }
});

t.test('ferry COMMAND --help documents every flag the command accepts', async (t) => {
  const helps = await Promise.all(Object.keys(COMMANDS).map(commandHelp));
  for (const [index, [name, spec]] of Object.entries(COMMANDS).entries()) {
    const help = helps[index]!;
    const missing = Object.keys(spec).filter((flag) => flag !== 'help' && !mentions(help, flag));
    t.same(missing, [], `ferry ${name} --help names every flag it accepts`);
  }
});

t.test("the README's usage block is ferry --help verbatim", async (t) => {
  const readme = readFileSync(README, 'utf8');
  t.ok(readme.includes(`\`\`\`\n${overview.trimEnd()}\n\`\`\`\n`), 'README.md holds the output of ferry --help in a code block; run npm run readme:usage');
});

t.test('scripts/readme-usage.ts finds a stale usage block and rewrites it', async (t) => {
  const copy = join(scratchDir(t), 'README.md');
  const readme = readFileSync(README, 'utf8');
  const stale = readme.replace(overview.trimEnd(), overview.trimEnd().replace('--listen HOST:PORT', '--listen HOST'));
  t.not(stale, readme, 'the copy differs from the README');
  writeFileSync(copy, stale);
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', README_USAGE, '--readme', copy, ...args], { encoding: 'utf8' });
  const check = run('--check');
  t.equal(check.status, 1, 'a stale block fails the check');
  t.match(check.stderr, /usage block differs from `ferry --help`; run npm run readme:usage/);
  t.equal(run().status, 0, 'the rewrite succeeds');
  t.equal(readFileSync(copy, 'utf8'), readme, 'the rewritten copy equals the README');
  writeFileSync(copy, '# no usage block here\n');
  const noMarkers = run('--check');
  t.equal(noMarkers.status, 2, 'a README without markers is an error');
  t.match(noMarkers.stderr, /has no usage block/);
});

t.test('a checkout that was never built says how to build it, instead of a module-resolution stack', async (t) => {
  // The launcher alone, where no bundle sits beside it: bin/ferry.js looks for ../dist/bundle/main.js
  // (in a folder whose name has a space, which a file URL spells %20).
  const checkout = join(scratchDir(t), 'a checkout');
  mkdirSync(checkout);
  const bin = join(checkout, 'bin');
  mkdirSync(bin);
  writeFileSync(join(checkout, 'package.json'), '{ "type": "module" }\n');
  copyFileSync(FERRY, join(bin, 'ferry.js'));
  const run = spawnSync(process.execPath, [join(bin, 'ferry.js'), '--help'], { encoding: 'utf8' });
  t.equal(run.status, 1);
  t.match(run.stderr, /^ferry: .*\/a checkout\/dist\/bundle\/main\.js is missing: build ferry first \(npm run build in its checkout\)\n$/);
});
