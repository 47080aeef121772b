/**
 * QmpClient against a fake QMP server on a unix socket (greeting, ids, errors, events, QEMU gone,
 * timeouts, split lines), the source driver's error paths, and --qemu-cmd template expansion.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import t, { type Test } from 'tap';
import { expandQemuTemplate, QemuSourceDriver, QmpClient, QmpError, splitCommandLine, targetQemuArgv, TemplateError, waitForMigration } from '@ferry/qemu';

type Reply = Record<string, unknown> | undefined;
type Handler = (command: string, args: Record<string, unknown> | undefined, socket: Socket) => Reply;

const GREETING = { QMP: { version: { qemu: { micro: 22, minor: 2, major: 7 }, package: 'Debian test' }, capabilities: ['oob'] } };

interface Fake {
  readonly path: string;
  readonly received: Array<{ execute: string; id: unknown; arguments?: unknown }>;
  readonly sockets: Socket[];
  readonly server: Server;
}

/** A QMP server: greets, answers qmp_capabilities, hands every other command to `handler`. */
async function fakeQmp(t: Test, handler: Handler, options: { greet?: boolean; path?: string } = {}): Promise<Fake> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-qmp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = options.path ?? join(dir, 'qmp.sock');
  const received: Fake['received'] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    if (options.greet !== false) socket.write(`${JSON.stringify(GREETING)}\r\n`);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffer.slice(0, newline)) as Fake['received'][number];
        buffer = buffer.slice(newline + 1);
        received.push(message);
        const reply = message.execute === 'qmp_capabilities' ? { return: {} } : handler(message.execute, message.arguments as Record<string, unknown> | undefined, socket);
        if (reply !== undefined) socket.write(`${JSON.stringify({ ...reply, id: message.id })}\r\n`);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  return { path, received, sockets, server };
}

async function connected(t: Test, handler: Handler): Promise<{ fake: Fake; qmp: QmpClient }> {
  const fake = await fakeQmp(t, handler);
  const qmp = await QmpClient.connect(fake.path, { timeoutMs: 2000, commandTimeoutMs: 2000 });
  t.teardown(() => qmp.close());
  return { fake, qmp };
}

t.test('greeting, qmp_capabilities first, results matched by id', async (t) => {
  const { fake, qmp } = await connected(t, (command) => (command === 'query-status' ? { return: { running: true, status: 'running' } } : { return: { echo: command } }));
  t.same(qmp.greeting.version, { major: 7, minor: 2, micro: 22, package: 'Debian test' });
  t.same(qmp.greeting.capabilities, ['oob']);
  t.equal(fake.received[0]?.execute, 'qmp_capabilities', 'negotiation comes first');
  const [status, other] = await Promise.all([qmp.execute('query-status'), qmp.execute('query-name')]);
  t.same(status, { running: true, status: 'running' });
  t.same(other, { echo: 'query-name' });
  const ids = fake.received.map((m) => m.id);
  t.equal(new Set(ids).size, ids.length, 'every command has its own id');
});

t.test('answers that arrive out of order and split into single bytes still match', async (t) => {
  const held: Array<{ socket: Socket; line: string }> = [];
  let bothHeld = (): void => {};
  const bothArrived = new Promise<void>((resolve) => { bothHeld = resolve; });
  const { qmp } = await connected(t, (command, _args, socket) => {
    held.push({ socket, line: JSON.stringify({ return: command, id: undefined }) });
    if (held.length === 2) bothHeld();
    return undefined;
  });
  const first = qmp.execute('first');
  const second = qmp.execute('second');
  await bothArrived;
  // answer second before first, one byte per write
  const lines = held.map((h, i) => ({ socket: h.socket, line: `${JSON.stringify({ return: i === 0 ? 'first' : 'second', id: `ferry-${i + 2}` })}\r\n` }));
  for (const { socket, line } of [lines[1]!, lines[0]!]) {
    for (const byte of line) {
      socket.write(byte);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  t.equal(await second, 'second');
  t.equal(await first, 'first');
});

t.test('a QEMU error becomes a QmpError with class and desc', async (t) => {
  const { qmp } = await connected(t, () => ({ error: { class: 'CommandNotFound', desc: "The command frobnicate has not been found" } }));
  const error = await qmp.execute('frobnicate').catch((e: unknown) => e);
  t.ok(error instanceof QmpError);
  const qmpError = error as QmpError;
  t.equal(qmpError.kind, 'qemu');
  t.equal(qmpError.errorClass, 'CommandNotFound');
  t.equal(qmpError.desc, 'The command frobnicate has not been found');
  t.equal(qmpError.command, 'frobnicate');
  t.match(qmpError.message, /frobnicate.*has not been found.*CommandNotFound/);
});

t.test('events reach listeners and waitForEvent, between answers', async (t) => {
  const { fake, qmp } = await connected(t, (command, _args, socket) => {
    socket.write(`${JSON.stringify({ event: 'MIGRATION', data: { status: 'setup' }, timestamp: { seconds: 10, microseconds: 500000 } })}\r\n`);
    socket.write(`${JSON.stringify({ event: 'MIGRATION', data: { status: 'completed' }, timestamp: { seconds: 11, microseconds: 0 } })}\r\n`);
    return { return: command };
  });
  const seen: string[] = [];
  const off = qmp.onEvent((event) => seen.push(`${event.event}:${String(event.data['status'])}`));
  const completed = qmp.waitForEvent('MIGRATION', (e) => e.data['status'] === 'completed', 2000);
  t.equal(await qmp.execute('migrate'), 'migrate');
  const event = await completed;
  t.equal(event.timestamp, 11);
  t.same(seen, ['MIGRATION:setup', 'MIGRATION:completed']);
  off();
  fake.sockets[0]!.write(`${JSON.stringify({ event: 'STOP', timestamp: { seconds: 12, microseconds: 0 } })}\r\n`);
  const stop = await qmp.waitForEvent('STOP', undefined, 2000);
  t.same(stop.data, {}, 'an event without data gets {}');
  t.equal(seen.length, 2, 'an unsubscribed listener hears nothing more');
});

t.test('QEMU gone: pending commands and event waits reject, later commands fail at once', async (t) => {
  let stopArrived = (): void => {};
  const stopReceived = new Promise<void>((resolve) => { stopArrived = resolve; });
  const { fake, qmp } = await connected(t, (command) => void (command === 'stop' && stopArrived()));
  const pending = qmp.execute('stop');
  const waiting = qmp.waitForEvent('RESUME', undefined, 5000);
  await stopReceived; // QEMU has the command and dies before answering
  fake.sockets[0]!.destroy();
  const error = (await pending.catch((e: unknown) => e)) as QmpError;
  t.equal(error.kind, 'closed');
  t.equal(error.command, 'stop');
  t.equal(((await waiting.catch((e: unknown) => e)) as QmpError).kind, 'closed');
  t.ok(qmp.closed);
  const later = (await qmp.execute('cont').catch((e: unknown) => e)) as QmpError;
  t.equal(later.kind, 'closed');
});

t.test('a command without an answer times out; the late answer is ignored', async (t) => {
  let calls = 0;
  const { fake, qmp } = await connected(t, (command) => (command === 'slow' ? undefined : { return: ++calls }));
  const error = (await qmp.execute('slow', undefined, { timeoutMs: 50 }).catch((e: unknown) => e)) as QmpError;
  t.equal(error.kind, 'timeout');
  const slowId = fake.received.find((m) => m.execute === 'slow')?.id;
  fake.sockets[0]!.write(`${JSON.stringify({ return: 'late', id: slowId })}\r\n`);
  t.equal(await qmp.execute('fast'), 1, 'the client still works');
  t.equal(((await qmp.waitForEvent('NEVER', undefined, 30).catch((e: unknown) => e)) as QmpError).kind, 'timeout');
});

t.test('connect retries until the socket exists, and gives up with a clear error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-qmp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'late.sock');
  // The socket appears only after the client has failed to connect once (seen on node:net's diagnostics
  // channel), so the retry is what connects.
  let failedOnce = (): void => {};
  const firstAttemptFailed = new Promise<void>((resolve) => { failedOnce = resolve; });
  const onSocket = (message: unknown): void => {
    const { socket } = message as { socket: Socket };
    socket.once('error', (error: NodeJS.ErrnoException) => error.code === 'ENOENT' && failedOnce());
  };
  subscribe('net.client.socket', onSocket);
  const connecting = QmpClient.connect(path, { timeoutMs: 10_000 });
  await firstAttemptFailed;
  unsubscribe('net.client.socket', onSocket);
  await fakeQmp(t, () => ({ return: {} }), { path });
  const qmp = await connecting;
  t.equal(qmp.greeting.version.major, 7);
  await qmp.close();

  const missing = (await QmpClient.connect(join(dir, 'none.sock'), { timeoutMs: 200 }).catch((e: unknown) => e)) as QmpError;
  t.equal(missing.kind, 'closed');
  t.match(missing.message, /cannot connect to .*none\.sock/);

  const silent = await fakeQmp(t, () => undefined, { greet: false });
  const noGreeting = (await QmpClient.connect(silent.path, { timeoutMs: 100 }).catch((e: unknown) => e)) as QmpError;
  t.equal(noGreeting.kind, 'timeout');
});

t.test('source driver: pause waits for the stop, a failed save carries QEMU\'s reason and restores the settings', async (t) => {
  let running = true;
  let stopped = false;
  let statusAfterStop = 0;
  let polls = 0;
  const fake = await fakeQmp(t, (command, args) => {
    switch (command) {
      case 'stop':
        stopped = true;
        return { return: {} };
      case 'query-status':
        // QEMU answers 'stop' before the vCPUs have stopped: the first query after it still says running.
        if (stopped && ++statusAfterStop >= 2) running = false;
        return { return: { running, status: running ? 'running' : 'paused' } };
      case 'migrate-set-capabilities':
        return (args?.['capabilities'] as Array<{ capability: string }>).some((c) => c.capability === 'x-ignore-shared') ? { return: {} } : { error: { class: 'GenericError', desc: 'missing' } };
      case 'query-migrate-capabilities':
        return { return: [{ capability: 'xbzrle', state: false }, { capability: 'x-ignore-shared', state: false }, { capability: 'events', state: false }] };
      case 'query-migrate-parameters':
        return { return: { 'max-bandwidth': 134217728, 'downtime-limit': 300 } };
      case 'migrate-set-parameters':
      case 'migrate':
        return { return: {} };
      case 'query-migrate':
        return { return: ++polls < 3 ? { status: 'active' } : { status: 'failed', 'error-desc': 'Unable to write to command: Broken pipe' } };
      default:
        return { error: { class: 'CommandNotFound', desc: `no ${command}` } };
    }
  });
  const driver = await QemuSourceDriver.connect(fake.path, { timeoutMs: 2000 });
  t.teardown(() => driver.close());
  await driver.pause();
  t.notOk(running, 'pause resolved only once QEMU said paused');
  t.equal(statusAfterStop, 2, 'pause asked again after QEMU still said running');
  const stateDir = mkdtempSync(join(tmpdir(), 'ferry-state-'));
  t.teardown(() => rmSync(stateDir, { recursive: true, force: true }));
  await t.rejects(driver.saveDeviceState(join(stateDir, 'qemu-state')), /migration failed: Unable to write to command: Broken pipe/);
  const migrate = fake.received.find((m) => m.execute === 'migrate');
  t.same(migrate?.arguments, { uri: `unix:${join(stateDir, 'qemu-state.sock')}` }, 'QEMU 7.2 has no file: URI: it writes to a socket of ferry\'s beside the file');
  t.notOk(existsSync(join(stateDir, 'qemu-state.sock')), 'the socket is gone after the failure');
  await driver.close(); // puts the settings back
  const sets = fake.received.filter((m) => m.execute === 'migrate-set-capabilities').map((m) => m.arguments);
  t.same(sets.at(0), { capabilities: [{ capability: 'x-ignore-shared', state: true }, { capability: 'events', state: true }] });
  t.same(sets.at(-1), { capabilities: [{ capability: 'x-ignore-shared', state: false }, { capability: 'events', state: false }] }, 'capabilities restored after the save');
  const bandwidth = fake.received.filter((m) => m.execute === 'migrate-set-parameters').map((m) => m.arguments);
  t.same(bandwidth.at(-1), { 'max-bandwidth': 134217728 }, 'bandwidth restored after the save');
});

t.test('a MIGRATION event that arrives while query-migrate is on its way is not lost', async (t) => {
  let queries = 0;
  const { qmp } = await connected(t, (command, _args, socket) => {
    if (command !== 'query-migrate') return { error: { class: 'CommandNotFound', desc: `no ${command}` } };
    if (++queries > 1) return { return: { status: 'completed' } };
    // QEMU finished between reading the query and answering it: the event comes before the answer.
    socket.write(`${JSON.stringify({ event: 'MIGRATION', data: { status: 'completed' }, timestamp: { seconds: 0, microseconds: 0 } })}\r\n`);
    return { return: { status: 'active' } };
  });
  // A poll interval longer than the test's limit: only the event can make the second query go.
  t.setTimeout(20_000);
  const info = await waitForMigration(qmp, 120_000, 60_000);
  t.equal(info.status, 'completed');
  t.equal(queries, 2, 'asked again at once, not after the poll interval');
});

t.test('template: quotes, placeholders, errors', async (t) => {
  t.same(splitCommandLine(`qemu  -append 'console=ttyS0 quiet' -name "a \\"b\\" \\$c" x\\ y ''`), ['qemu', '-append', 'console=ttyS0 quiet', '-name', 'a "b" $c', 'x y', '']);
  t.same(splitCommandLine('a\\\n b'), ['a', 'b'], 'backslash-newline continues the line');
  t.throws(() => splitCommandLine("qemu -append 'open"), TemplateError);
  t.throws(() => splitCommandLine('qemu -append "open'), TemplateError);

  const images = { ram: '/dev/shm/my vm,1.ram', disk: '/d.img' };
  t.same(expandQemuTemplate('qemu -object memory-backend-file,mem-path={image:ram},share=on -drive file={image:disk} {image:ram}', images), [
    'qemu',
    '-object',
    'memory-backend-file,mem-path=/dev/shm/my vm,,1.ram,share=on',
    '-drive',
    'file=/d.img',
    '/dev/shm/my vm,1.ram',
  ]);
  t.throws(() => expandQemuTemplate('qemu {image:nope}', images), /no image called 'nope' \(images: ram, disk\)/);
  t.throws(() => expandQemuTemplate('qemu {image:../x}', images), /bad image name/);
  t.throws(() => expandQemuTemplate('qemu {image:toString}', {}), /no image called 'toString' \(images: none\)/);
  t.throws(() => expandQemuTemplate('   ', {}), /empty/);
  t.same(expandQemuTemplate('qemu -blockdev driver=file,filename={disk:vda},node-name=f {disk:vda}', { vda: '/r/a,b' }),
    ['qemu', '-blockdev', 'driver=file,filename=/r/a,,b,node-name=f', '/r/a,b'], '{disk:NAME} is the received file of a guest disk');
  t.throws(() => expandQemuTemplate('qemu {disk:vdb}', { vda: '/r/vda' }), /\{disk:vdb\}: no image called 'vdb' \(images: vda\)/);

  t.same(targetQemuArgv('qemu -m 1G', {}, '/w/qmp.sock'), ['qemu', '-m', '1G', '-incoming', 'defer', '-qmp', 'unix:/w/qmp.sock,server=on,wait=off']);
  t.same(targetQemuArgv('qemu -incoming defer', {}, '/q'), ['qemu', '-incoming', 'defer', '-qmp', 'unix:/q,server=on,wait=off']);
  t.throws(() => targetQemuArgv('qemu -incoming tcp:0:4444', {}, '/q'), /use '-incoming defer'/);
});
