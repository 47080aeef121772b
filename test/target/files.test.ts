/**
 * A target deletes only what it created. A HELLO whose id names an operator's
 * folder, or the folder of a committed image whose commit hook failed, is refused and the files stay;
 * `.partial` files left by a kill -9 of the target (and final names that are hard links of them) are
 * removed when it starts again, and nothing else. A failed attempt's folder goes when nothing but ferry's
 * own files is left in it, at once or at the next start.
 */
import t from 'tap';
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding } from '@ferry/protocol';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256 } from '../helpers/ferry.js';
import { helloClient, spawnTarget } from '../helpers/target-client.js';
import { until } from '../helpers/wait.js';
import { qemuMissing } from '../helpers/qemu.js';

const PAGE = 4096;
const images = [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE }];
const manifestOf = (dir: string): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, unknown>;

t.test("a HELLO never deletes an operator's folder or a committed image", async (t) => {
  const root = scratchDir(t);
  const dir = join(root, 'target');
  mkdirSync(join(dir, 'operator-notes'), { recursive: true });
  writeFileSync(join(dir, 'operator-notes', 'important.txt'), 'do not delete\n');
  const target = await spawnTarget(t, dir, ['--on-commit', 'false']);

  const intruder = await helloClient(target.url, { id: 'operator-notes', images });
  t.match(await intruder.next(), { type: MessageType.Error, code: ErrorCode.Conflict, message: /not a ferry migration folder/ }, 'a HELLO naming an operator folder is refused');
  await intruder.closed;
  t.equal(readFileSync(join(dir, 'operator-notes', 'important.txt'), 'utf8'), 'do not delete\n', "the operator's file is still there");

  const image = join(root, 'vm.ram');
  await fillImage(image, 2 * 1024 * 1024, { seed: 3 });
  const run = await runMigrate(t, ['--to', target.url, '--id', 'hook-failed', '--image', `ram=${image}`]);
  t.equal(run.code, 4, `the commit hook failed after GO: outcome unknown (exit ${run.code})`);
  t.equal(manifestOf(join(dir, 'hook-failed'))['outcome'], 'resume-failed', 'the manifest says the resume failed');
  const committed = await sha256(join(dir, 'hook-failed', 'ram'));
  t.equal(committed, await sha256(image), 'the committed image is complete');

  for (const resume of [false, true]) {
    const again = await helloClient(target.url, { id: 'hook-failed', images: [{ name: 'ram', size: 2 * 1024 * 1024, pageSize: PAGE }], resume });
    t.match(await again.next(), { type: MessageType.Error, code: ErrorCode.Conflict }, `a new HELLO (resume: ${resume}) for that id is refused`);
    await again.closed;
  }
  t.equal(await sha256(join(dir, 'hook-failed', 'ram')), committed, 'and the committed image is untouched');
});

t.test('partial files of a killed target are cleaned at restart; nothing else is', async (t) => {
  const dir = join(scratchDir(t), 'target');
  const first = await spawnTarget(t, dir);
  const source = await helloClient(first.url, { id: 'cut', images });
  t.match(await source.next(), { type: MessageType.Welcome });
  // The order a restart relies on: the manifest that marks the folder as ferry's is durable before WELCOME.
  t.match(manifestOf(join(dir, 'cut')), { outcome: 'receiving', migrationId: 'cut' }, 'the manifest was written before WELCOME');
  source.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  source.send(encodePages({ imageIndex: 0, pass: 0 }, [{ pageIndex: 1, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(1) }]));
  source.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 1, bytes: PAGE }));
  t.match(await source.next(), { type: MessageType.Ack, pagesApplied: 1 });
  t.ok(existsSync(join(dir, 'cut', 'ram.partial')), 'the image is being received');
  writeFileSync(join(dir, 'cut', 'notes.txt'), 'mine\n');
  // What a QEMU launch ahead of GO leaves: the final name as a hard link of the partial image.
  linkSync(join(dir, 'cut', 'ram.partial'), join(dir, 'cut', 'ram'));
  process.kill(first.pid, 'SIGKILL');
  await first.exited;
  source.ws.terminate();

  const second = await spawnTarget(t, dir);
  t.notOk(existsSync(join(dir, 'cut', 'ram.partial')), 'the restart removed the partial image');
  t.notOk(existsSync(join(dir, 'cut', 'ram')), 'and the final name linked to it');
  t.match(manifestOf(join(dir, 'cut')), { outcome: 'failed', reason: /restarted/ }, 'and the manifest says why');
  t.equal(readFileSync(join(dir, 'cut', 'notes.txt'), 'utf8'), 'mine\n', 'a file ferry did not create is left alone');

  const retry = await helloClient(second.url, { id: 'cut', images });
  t.match(await retry.next(), { type: MessageType.Welcome, resumed: false }, "ferry's own failed attempt may be replaced by a new one");
  t.ok(existsSync(join(dir, 'cut', 'ram.partial')), 'with a fresh partial image');
  t.ok(existsSync(join(dir, 'cut', 'notes.txt')), 'still without deleting the folder');
  retry.ws.terminate();
});

/** A manifest as a target writes it, for folders planted before a start. */
const plantedManifest = (id: string, outcome: string): string => `${JSON.stringify({
  createdBy: 'ferry-target', migrationId: id, outcome, images: [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE, file: 'ram.partial' }], blobs: [],
  startedAt: new Date().toISOString(), updatedAt: new Date().toISOString(), bytesReceived: 0, passes: 0,
})}\n`;

t.test('short attempts leave no folders, and a start removes those of failed attempts, never anything else', async (t) => {
  const dir = join(scratchDir(t), 'target');
  const plant = (id: string, outcome: string | undefined, files: string[]): void => {
    mkdirSync(join(dir, id, 'state'), { recursive: true });
    if (outcome) writeFileSync(join(dir, id, 'manifest.json'), plantedManifest(id, outcome));
    for (const file of files) writeFileSync(join(dir, id, file), 'x');
  };
  plant('old-failed', 'failed', []);
  plant('was-receiving', 'receiving', ['ram.partial']);
  plant('not-ferrys', undefined, []);
  plant('done', 'committed', ['ram']);
  plant('failed-with-notes', 'failed', ['notes.txt']);
  const target = await spawnTarget(t, dir);
  t.notOk(existsSync(join(dir, 'old-failed')), 'the folder of a failed attempt is removed at start');
  t.notOk(existsSync(join(dir, 'was-receiving')), 'so is that of an attempt cut by the restart');
  t.ok(existsSync(join(dir, 'not-ferrys')), "a folder without ferry's manifest stays");
  t.ok(existsSync(join(dir, 'done', 'ram')), 'a committed folder stays');
  t.ok(existsSync(join(dir, 'failed-with-notes', 'notes.txt')), 'a failed folder holding a file ferry did not create stays');

  for (let i = 0; i < 20; i++) {
    const client = await helloClient(target.url, { id: `short-${i}`, images });
    t.match(await client.next(), { type: MessageType.Welcome });
    client.ws.terminate();
    await client.closed;
  }
  const short = (): string[] => readdirSync(dir).filter((name) => name.startsWith('short-'));
  await until(() => short().length === 0, 'the short sessions are cleaned up');
  t.same(short(), [], '20 short sessions leave no folder');
});

t.test("an attempt cut after its QEMU was started ahead of GO leaves no folder behind", { skip: qemuMissing() ?? false }, async (t) => {
  const dir = join(scratchDir(t), 'target');
  const target = await spawnTarget(t, dir, ['--qemu-cmd', 'qemu-system-x86_64 -machine none -nodefaults -display none', '--resume-grace', '0']);
  const client = await helloClient(target.url, { id: 'prelaunched', images });
  t.match(await client.next(), { type: MessageType.Welcome });
  client.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  client.send(encodeControl({ type: MessageType.PassEnd, pass: 0, pages: 0, bytes: 0 }));
  client.send(encodeControl({ type: MessageType.Paused }));
  await until(() => existsSync(join(dir, 'prelaunched', 'qemu.log')), 'the target started QEMU ahead of GO');
  client.ws.terminate();
  await client.closed;
  await until(() => !existsSync(join(dir, 'prelaunched')), 'the cut attempt is cleaned up');
  t.notOk(existsSync(join(dir, 'prelaunched')), "the QEMU launch's log does not keep the folder of a failed attempt");
});
