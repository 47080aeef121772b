/**
 * The flags of `ferry migrate` read once into a plan (pure: parseMigratePlan), then the files it names
 * (readMigrateRequest); the JSON body of `ferry source` read against the same flag table (argsFromJson).
 */
import { spawn } from 'node:child_process';
import t from 'tap';
import { argsFromJson } from '../../cli/src/flags.js';
import { readMigrateRequest } from '../../cli/src/migrate-options.js';
import { MIGRATE_ARG_SPEC, parseMigratePlan, type MigrateArgs } from '../../cli/src/migrate-plan.js';
import { FERRY } from '../helpers/ferry.js';

const base: MigrateArgs = { to: 'ws://127.0.0.1:7070', image: ['ram=/dev/shm/none.img'], id: 'm1' };
const defaults = { newId: () => 'generated', workers: 7, stateDir: '/run/ferry-test' };
const plan = (args: MigrateArgs) => parseMigratePlan(args, defaults);

t.test('migrate plan: numbers in their units', async (t) => {
  const { transfer } = plan({
    ...base, policy: 'downtime', 'max-downtime': '300', timeout: '1.5', 'reply-timeout': '500ms', 'reconnect-timeout': '0',
    workers: '3', 'delta-cache': '64MiB', 'rate-limit': '100mbit', 'page-size': '4KiB',
  });
  t.equal(transfer.maxDowntimeMs, 300);
  t.equal(transfer.timeoutMs, 1500);
  t.equal(transfer.replyTimeoutMs, 500);
  t.equal(transfer.reconnectTimeoutMs, 0);
  t.equal(transfer.workers, 3);
  t.equal(transfer.deltaCacheBytes, 64 * 2 ** 20);
  t.equal(transfer.rateLimitBytesPerSec, 12_500_000);
  t.equal(transfer.pageSize, 4096);
});

t.test('migrate plan: what is left out comes from the defaults; each seam gets its part', async (t) => {
  const { transfer, hooks, qemu, throttle, dirtyLog, stateDir, files } = plan({ to: base.to, image: base.image, 'resume-cmd': 'kill -CONT 9', 'hook-timeout': '2' });
  t.match(transfer, { migrationId: 'generated', workers: 7, policy: 'smart', compress: 'auto', onTimeout: 'cancel', throttle: 'auto', delta: true });
  t.same(hooks, { resumeCmd: 'kill -CONT 9', timeoutMs: 2000 });
  t.equal(qemu, undefined);
  t.equal(throttle, undefined, 'nothing names the workload: no throttle');
  t.same(dirtyLog, { mode: 'auto', pid: undefined });
  t.equal(stateDir, '/run/ferry-test');
  t.same(files, {});
  t.same(plan({ ...base, cgroup: '/sys/fs/cgroup/vm' }).throttle, { kind: 'cgroup', dir: '/sys/fs/cgroup/vm' });
  t.same(plan({ ...base, 'throttle-pid': '42', 'pause-cmd': 'kill -STOP 42' }).throttle, { kind: 'pid', pid: 42 });
  t.same(plan({ ...base, qmp: '/q.sock' }).throttle, { kind: 'qmp', socket: '/q.sock' }, 'the --qmp guest');
  t.same(plan({ ...base, qmp: '/q.sock', 'keep-source': true }).qemu, { qmp: '/q.sock', keepSource: true });
  t.equal(plan({ ...base, qmp: '/q.sock', throttle: 'off' }).throttle, undefined, '--throttle off');
});

t.test('migrate plan: every bad value is a usage error that names the flag', async (t) => {
  const bad: Array<[MigrateArgs, RegExp]> = [
    [{ ...base, to: undefined }, /--to ws:\/\/HOST:PORT is required/],
    [{ ...base, to: 'http://x:1' }, /must start with ws:\/\/ or wss:\/\//],
    [{ ...base, image: [] }, /at least one --image/],
    [{ ...base, image: ['ram'] }, /--image ram must be NAME=PATH/],
    [{ ...base, image: ['a=/x', 'a=/y'] }, /--image name "a" is given twice/],
    [{ ...base, policy: 'fast' }, /--policy fast is not one of/],
    [{ ...base, policy: 'downtime' }, /--policy downtime needs --max-downtime/],
    [{ ...base, compress: 'zstd' }, /--compress zstd is not one of/],
    [{ ...base, timeout: '5', 'on-timeout': 'wait' }, /--on-timeout wait is not one of/],
    [{ ...base, throttle: 'max' }, /--throttle max is not one of auto, off/],
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
    [{ ...base, 'dirty-log': 'kernel' }, /--dirty-log kernel is not one of auto, soft-dirty, hash/],
    [{ ...base, 'dirty-pid': '1' }, /--dirty-pid 1 must be a process id above 1/],
    [{ ...base, 'dirty-pid': 'qemu' }, /--dirty-pid qemu must be a process id above 1/],
    [{ ...base, 'dirty-pid': '0x20' }, /--dirty-pid 0x20 must be a process id above 1/],
    [{ ...base, 'dirty-log': 'soft-dirty' }, /--dirty-log soft-dirty needs --dirty-pid PID .* or --qmp/],
    [{ ...base, 'throttle-pid': '-5', 'pause-cmd': 'x' }, /--throttle-pid -5 must be a process id above 1/],
  ];
  for (const [args, message] of bad) t.throws(() => plan(args), { name: /UsageError|UnitError/, message }, String(message));
});

t.test('migrate plan: options that contradict each other, or need another, are refused before anything is built', async (t) => {
  const contradictions: Array<[MigrateArgs, RegExp]> = [
    [{ ...base, cgroup: '/sys/fs/cgroup/vm', 'throttle-pid': '42', 'pause-cmd': 'x' }, /give --cgroup or --throttle-pid, not both/],
    [{ ...base, cgroup: '/sys/fs/cgroup/vm', 'throttle-pid': '42', throttle: 'off' }, /give --cgroup or --throttle-pid, not both/],
    [{ ...base, 'throttle-pid': '42' }, /--throttle-pid needs --pause-cmd .* or --qmp/],
    [{ ...base, disk: ['vda=vda'] }, /--disk NAME=NODE needs --qmp/],
    [{ ...base, 'keep-source': true }, /--keep-source needs --qmp/],
    [{ ...base, 'no-delta': true, 'delta-cache': '1GiB' }, /give --no-delta or --delta-cache, not both/],
    [{ ...base, 'on-timeout': 'force' }, /--on-timeout says what happens at --timeout/],
    [{ ...base, to: 'wss://h:1', 'tls-client-cert': '/c' }, /--tls-client-cert and --tls-client-key go together/],
    [{ ...base, to: 'wss://h:1', 'tls-client-key': '/k' }, /--tls-client-cert and --tls-client-key go together/],
    [{ ...base, ca: '/ca.pem' }, /--ca and --tls-client-cert are for a wss:\/\/ target/],
    [{ ...base, 'dirty-log': 'hash', 'dirty-pid': '42' }, /--dirty-log hash reads no log/],
  ];
  for (const [args, message] of contradictions) t.throws(() => plan(args), { name: 'UsageError', message }, String(message));
  t.doesNotThrow(() => plan({ ...base, throttle: 'off', 'throttle-pid': '42' }), '--throttle off with the writer named: nothing is throttled, nothing contradicts');
  t.doesNotThrow(() => plan({ ...base, 'throttle-pid': '42', qmp: '/q' }), 'with --qmp the guest pauses the process');
});

t.test('reading the files the plan names: a missing one, or a --dirty-pid that is no process, is a usage error', async (t) => {
  t.throws(() => readMigrateRequest({ ...base, 'token-file': '/nonexistent/token' }), { name: 'UsageError', message: /--token-file \/nonexistent\/token: ENOENT/ });
  t.throws(() => readMigrateRequest({ ...base, to: 'wss://h:1', ca: '/nonexistent/ca' }), { name: 'UsageError', message: /--ca \/nonexistent\/ca: ENOENT/ });
  t.throws(() => readMigrateRequest({ ...base, 'dirty-pid': String(2 ** 22 + 1) }), { name: 'UsageError', message: /--dirty-pid 4194305: no such process we may signal/ });
  const { plan: read, options } = readMigrateRequest({ ...base, 'dirty-pid': String(process.pid) });
  t.equal(read.dirtyLog.pid, process.pid);
  t.equal(options.migrationId, 'm1');
});

t.test('a JSON body is read against the same flag table', async (t) => {
  t.same(argsFromJson({ to: 'ws://h:1', image: ['a=/x'], 'no-delta': true }, MIGRATE_ARG_SPEC), { to: 'ws://h:1', image: ['a=/x'], 'no-delta': true });
  const bad: Array<[unknown, RegExp]> = [
    [null, /must be a JSON object/],
    [['to'], /must be a JSON object/],
    [{ to: 'ws://h:1', throttle_pid: '42' }, /unknown option "throttle_pid"/],
    [JSON.parse('{"__proto__": {"to": "ws://h:1"}}'), /unknown option "__proto__"/],
    [{ image: 'a=/x' }, /option "image" must be a list of strings/],
    [{ image: ['a=/x', 7] }, /option "image" must be a list of strings/],
    [{ 'no-delta': 'yes' }, /option "no-delta" must be true or false/],
    [{ workers: 4 }, /option "workers" must be a string/],
    [{ toString: 'x' }, /unknown option "toString"/],
  ];
  for (const [body, message] of bad) {
    t.throws(() => argsFromJson(body, MIGRATE_ARG_SPEC), { message }, JSON.stringify(body));
  }
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
