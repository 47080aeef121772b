/**
 * Names a source chooses become files in DIR/<id>/ and variables in the --on-commit environment. Tried
 * as a hostile source would, against a real `ferry target`: names the target uses for its own files,
 * names that look like options, names whose variables collide, a name that is a property of every
 * JavaScript object, and messages out of pass order.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding, type ImageInfo, type Message } from '@ferry/protocol';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';
import { helloClient, spawnTarget } from '../helpers/target-client.js';

const PAGE = 4096;
const image = (name: string): ImageInfo => ({ name, size: 16 * PAGE, pageSize: PAGE });

/** The first message the target answers a HELLO with. */
async function firstAnswer(url: string, id: string, images: ImageInfo[]): Promise<Message> {
  const client = await helloClient(url, { id, images });
  const answer = await client.next();
  client.ws.close();
  return answer;
}

t.test('HELLO: names the target uses itself, option-like names and colliding variables are refused up front', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const refused: Array<[string, string, ImageInfo[], RegExp]> = [
    ['qemu.log', 'm1', [image('qemu.log')], /image name "qemu.log" is reserved/],
    ['qmp.sock', 'm2', [image('qmp.sock')], /image name "qmp.sock" is reserved/],
    ['manifest.json', 'm3', [image('manifest.json')], /image name "manifest.json" is reserved/],
    ['a leading dash', 'm4', [image('-rf')], /image name "-rf" is not allowed/],
    ['a migration id with a leading dash', '-m5', [image('ram')], /migration id "-m5" is not allowed/],
    ['ram and RAM', 'm6', [image('ram'), image('RAM')], /"ram" and "RAM" would both be FERRY_IMAGE_RAM/],
    ['r-am and r.am', 'm7', [image('r-am'), image('r.am')], /"r-am" and "r.am" would both be FERRY_IMAGE_R_AM/],
    // On a case-insensitive --dir (ext4 casefold, vfat, SMB) these are the target's own files.
    ['Manifest.JSON', 'm9', [image('Manifest.JSON')], /image name "Manifest.JSON" is reserved/],
    ['STATE', 'm10', [image('STATE')], /image name "STATE" is reserved/],
    ['ram.PARTIAL', 'm11', [image('ram.PARTIAL')], /image name "ram.PARTIAL" is reserved/],
  ];
  for (const [what, id, images, message] of refused) {
    t.match(await firstAnswer(target.url, id, images), { type: MessageType.Error, code: ErrorCode.Malformed, message }, what);
  }
  t.match(await firstAnswer(target.url, 'm8', [image('ram'), image('disk')]), { type: MessageType.Welcome }, 'distinct names are welcome');
});

t.test('an image named __proto__ migrates like any other and reaches the commit hook under its own variable', async (t) => {
  const dir = scratchDir(t);
  const source = join(dir, 'proto.img');
  await fillImage(source, 1024 * 1024, { seed: 3 });
  const envFile = join(dir, 'env');
  const target = await startTarget(t, join(dir, 'target'), ['--on-commit', `env > ${envFile}`]);
  const run = await runMigrate(t, ['--to', target.url, '--id', 'proto', '--image', `__proto__=${source}`]);
  t.equal(run.code, 0, `committed (${run.stderr.slice(-400)})`);
  const committed = join(dir, 'target', 'proto', '__proto__');
  t.equal(await sha256(committed), await sha256(source), 'the image arrived whole');
  t.match(readFileSync(envFile, 'utf8'), `FERRY_IMAGE___PROTO__=${committed}\n`);
});

t.test('PAGES for a pass that has not begun, and PAUSED in the middle of a pass, are protocol errors', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const page = new Uint8Array(PAGE).fill(9);
  const pages = (pass: number): Uint8Array => encodePages({ imageIndex: 0, pass }, [{ pageIndex: 1, encoding: PageEncoding.Raw, payload: page }]);

  const future = await helloClient(target.url, { id: 'future-pass', images: [image('ram')] });
  t.match(await future.next(), { type: MessageType.Welcome });
  future.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  future.send(pages(5));
  t.match(await future.next(), { type: MessageType.Error, code: ErrorCode.UnexpectedMessage, message: /PAGES of pass 5 before its PASS_BEGIN \(in pass 0\)/ });

  const midPass = await helloClient(target.url, { id: 'paused-mid-pass', images: [image('ram')] });
  t.match(await midPass.next(), { type: MessageType.Welcome });
  midPass.send(encodeControl({ type: MessageType.PassBegin, pass: 0 }));
  midPass.send(pages(0));
  midPass.send(encodeControl({ type: MessageType.Paused }));
  t.match(await nextNot(midPass, MessageType.Ack), { type: MessageType.Error, code: ErrorCode.UnexpectedMessage, message: /PAUSED before PASS_END of pass 0/ });

  const outside = await helloClient(target.url, { id: 'pages-outside-pass', images: [image('ram')] });
  t.match(await outside.next(), { type: MessageType.Welcome });
  outside.send(pages(0));
  t.match(await outside.next(), { type: MessageType.Error, code: ErrorCode.UnexpectedMessage, message: /PAGES of pass 0 before its PASS_BEGIN/ });
});

async function nextNot(client: Awaited<ReturnType<typeof helloClient>>, skip: number): Promise<Message> {
  for (;;) {
    const message = await client.next();
    if (message.type !== skip) return message;
  }
}
