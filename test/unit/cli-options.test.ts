import { spawn } from 'node:child_process';
import t from 'tap';
import { MIGRATE_ARG_SPEC, migrateOptionsFrom, type MigrateArgs } from '../../cli/src/migrate-options.js';
import { FERRY } from '../helpers/ferry.js';

const base: MigrateArgs = { to: 'ws://127.0.0.1:7070', image: ['ram=/dev/shm/none.img'], id: 'm1' };

t.test('migrate options: numbers in their units', async (t) => {
  const options = migrateOptionsFrom({
    ...base, policy: 'downtime', 'max-downtime': '300', timeout: '1.5', 'reply-timeout': '500ms', 'reconnect-timeout': '0',
    workers: '3', 'delta-cache': '64MiB', 'rate-limit': '100mbit', 'page-size': '4KiB',
  });
  t.equal(options.maxDowntimeMs, 300);
  t.equal(options.timeoutMs, 1500);
  t.equal(options.replyTimeoutMs, 500);
  t.equal(options.reconnectTimeoutMs, 0);
  t.equal(options.workers, 3);
  t.equal(options.deltaCacheBytes, 64 * 2 ** 20);
  t.equal(options.rateLimitBytesPerSec, 12_500_000);
  t.equal(options.pageSize, 4096);
});

t.test('migrate options: every bad value is a usage error that names the flag', async (t) => {
  const bad: Array<[MigrateArgs, RegExp]> = [
    [{ ...base, to: undefined }, /--to ws:\/\/HOST:PORT is required/],
    [{ ...base, to: 'http://x:1' }, /must start with ws:\/\/ or wss:\/\//],
    [{ ...base, image: [] }, /at least one --image/],
    [{ ...base, image: ['ram'] }, /--image ram must be NAME=PATH/],
    [{ ...base, image: ['a=/x', 'a=/y'] }, /--image name "a" is given twice/],
    [{ ...base, policy: 'fast' }, /--policy fast is not one of/],
    [{ ...base, policy: 'downtime' }, /--policy downtime needs --max-downtime/],
    [{ ...base, compress: 'zstd' }, /--compress zstd is not one of/],
    [{ ...base, 'on-timeout': 'wait' }, /--on-timeout wait is not one of/],
    [{ ...base, id: 'a/b' }, /--id a\/b is not allowed/],
    [{ ...base, 'max-downtime': '0' }, /invalid --max-downtime "0"/],
    [{ ...base, timeout: '-1' }, /invalid --timeout "-1"/],
    [{ ...base, 'reply-timeout': 'never' }, /invalid --reply-timeout "never"/],
    [{ ...base, 'reconnect-timeout': '-2' }, /invalid --reconnect-timeout "-2"/],
    [{ ...base, workers: '2.5' }, /invalid --workers "2.5": use a whole number >= 1/],
    [{ ...base, workers: '0' }, /invalid --workers "0"/],
    [{ ...base, 'delta-cache': 'big' }, /invalid --delta-cache "big"/],
    [{ ...base, 'rate-limit': 'fast' }, /invalid --rate-limit "fast"/],
    [{ ...base, 'page-size': '4k4' }, /invalid --page-size "4k4"/],
    [{ ...base, 'token-file': '/nonexistent/token' }, /--token-file \/nonexistent\/token: ENOENT/],
    [{ ...base, 'dirty-log': 'kernel' }, /--dirty-log kernel is not one of auto, soft-dirty, hash/],
    [{ ...base, 'dirty-pid': '1' }, /--dirty-pid 1 must be a process id above 1/],
    [{ ...base, 'dirty-pid': 'qemu' }, /--dirty-pid qemu must be a process id above 1/],
    [{ ...base, 'dirty-log': 'soft-dirty' }, /--dirty-log soft-dirty needs --dirty-pid PID .* or --qmp/],
  ];
  for (const [args, message] of bad) t.throws(() => migrateOptionsFrom(args), { name: /UsageError|UnitError/, message }, String(message));
});

t.test('MIGRATE_ARG_SPEC declares each flag once, with a parseArgs type', async (t) => {
  for (const [flag, declaration] of Object.entries(MIGRATE_ARG_SPEC)) {
    t.ok(declaration.type === 'string' || declaration.type === 'boolean', `--${flag} has a type`);
    t.match(flag, /^[a-z][a-z-]*$/, `--${flag} is spelt in lower case`);
  }
});

/** The real CLI: a bad value exits 2 with the message and the hint to --help, before any connection. */
function ferry(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

t.test('the CLI exits 2 on a bad number in each command, naming the flag', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['migrate', '--to', 'ws://127.0.0.1:1', '--image', 'ram=/dev/null', '--workers', 'many'], /^ferry migrate: invalid --workers "many"/],
    [['migrate', '--to', 'ws://127.0.0.1:1', '--image', 'ram=/dev/null', '--bogus'], /^ferry migrate: Unknown option '--bogus'/],
    [['target', '--listen', '127.0.0.1:0', '--dir', '/dev/shm/ferry-never', '--max-images', '1.5'], /^ferry target: invalid --max-images "1.5"/],
    [['target', '--listen', '127.0.0.1:0', '--dir', '/dev/shm/ferry-never', '--resume-grace', 'long'], /^ferry target: invalid --resume-grace "long"/],
    [['wan-proxy', '--listen', '127.0.0.1:0', '--to', '127.0.0.1:1', '--delay=-3'], /^ferry wan-proxy: invalid --delay "-3"/],
    [['workload', '--image', '/dev/shm/ferry-never', '--size', '4096', '--seed=-1'], /^ferry workload: invalid --seed "-1"/],
    [['workload', '--image', '/dev/shm/ferry-never', '--size', '4096', '--duration', '0'], /^ferry workload: invalid --duration "0"/],
    [['demo', '--size', 'huge'], /^ferry demo: invalid --size "huge"/],
  ];
  // The processes are independent: start them all at once, then check each in order.
  const runs = await Promise.all(cases.map(([args]) => ferry(args)));
  for (const [index, [args, message]] of cases.entries()) {
    const { code, stderr } = runs[index]!;
    t.equal(code, 2, `${args.join(' ')} exits 2`);
    t.match(stderr, message, `${args[0]} names the flag`);
    t.match(stderr, new RegExp(`Run 'ferry ${args[0]} --help' for usage`));
  }
});

/** Every flag a command declares is named in its --help, and in the overview for the commands it lists. */
t.test('each command --help names every flag the command accepts', async (t) => {
  const tables: Record<string, Record<string, unknown>> = {
    migrate: (await import('../../cli/src/commands/migrate.js')).MIGRATE_COMMAND_FLAGS,
    target: (await import('../../cli/src/commands/target.js')).TARGET_FLAGS,
    source: (await import('../../cli/src/commands/source.js')).SOURCE_FLAGS,
    recover: (await import('../../cli/src/commands/recover.js')).RECOVER_FLAGS,
    status: (await import('../../cli/src/commands/status.js')).STATUS_FLAGS,
    demo: (await import('../../cli/src/commands/demo.js')).DEMO_FLAGS,
    workload: (await import('../../cli/src/commands/workload.js')).WORKLOAD_FLAGS,
    'wan-proxy': (await import('../../cli/src/commands/wan-proxy.js')).WAN_PROXY_FLAGS,
  };
  const { HELP } = await import('../../cli/src/usage.js');
  const helps = await Promise.all(Object.keys(tables).map((command) => ferryStdout([command, '--help'])));
  for (const [index, [command, flags]] of Object.entries(tables).entries()) {
    const help = helps[index]!;
    for (const flag of Object.keys(flags)) {
      if (flag === 'help') continue;
      t.match(help, new RegExp(`--${flag}\\b`), `ferry ${command} --help names --${flag}`);
      if (flag !== 'log-level' && flag !== 'log-file') t.match(HELP, new RegExp(`--${flag}\\b`), `ferry --help names --${flag} (${command})`);
    }
  }
});

function ferryStdout(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`ferry ${args.join(' ')} exited ${code}`))));
  });
}
