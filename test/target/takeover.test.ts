/**
 * A local process that reads a migration id from /status cannot take the session over
 * with HELLO{resume:true}; only the source that heard WELCOME (and its secret) can resume it, and the
 * connection it replaces is closed before the new one is attached.
 */
import t from 'tap';
import { join } from 'node:path';
import { encodeControl, encodePages, ErrorCode, MessageType, PageEncoding } from '@ferry/protocol';
import { scratchDir } from '../helpers/ferry.js';
import { helloClient, secretOf, spawnTarget, type Client } from '../helpers/target-client.js';

const PAGE = 4096;
const images = [{ name: 'ram', size: 64 * PAGE, pageSize: PAGE }];

async function onePass(client: Client, pass: number): Promise<unknown> {
  client.send(encodeControl({ type: MessageType.PassBegin, pass }));
  client.send(encodePages({ imageIndex: 0, pass }, [{ pageIndex: pass, encoding: PageEncoding.Raw, payload: new Uint8Array(PAGE).fill(pass + 1) }]));
  client.send(encodeControl({ type: MessageType.PassEnd, pass, pages: 1, bytes: PAGE }));
  return client.next();
}

t.test('a resume must present the session secret; the old connection is closed first', async (t) => {
  const target = await spawnTarget(t, join(scratchDir(t), 'target'));
  const victim = await helloClient(target.url, { id: 'victim', images });
  const secret = secretOf(await victim.next());
  t.match(await onePass(victim, 0), { type: MessageType.Ack, pagesApplied: 1 });

  const status = await (await fetch(`${target.url.replace('ws', 'http')}/status`)).json() as { migrations: Array<{ migrationId: string }> };
  const id = status.migrations[0]!.migrationId;
  t.equal(id, 'victim', 'any local process can read the id from /status');

  for (const [what, sessionSecret] of [['no secret', undefined], ['a wrong secret', 'guessed'], ['an empty secret', '']] as const) {
    const attacker = await helloClient(target.url, { id, images, resume: true, ...(sessionSecret !== undefined ? { sessionSecret } : {}) });
    const reply = await attacker.next();
    t.match(reply, { type: MessageType.Error }, `a resume with ${what} is refused`);
    if (sessionSecret === undefined || sessionSecret === 'guessed') t.match(reply, { code: ErrorCode.Auth, message: /session secret/ });
    await attacker.closed;
  }
  t.match(await onePass(victim, 1), { type: MessageType.Ack, pagesApplied: 2 }, "the victim's connection still works and nothing was attached to the attacker");

  const resumed = await helloClient(target.url, { id, images, resume: true, sessionSecret: secret });
  const victimClosed = await victim.closed;
  t.not(victimClosed, 1000, `the replaced connection was closed by the target (code ${victimClosed})`);
  t.match(await resumed.next(), { type: MessageType.Welcome, resumed: true, sessionSecret: secret }, 'the real source resumes');
  t.match(await resumed.next(), { type: MessageType.PageTable, image: 0, firstPage: 0 }, 'and hears what the target holds');
  resumed.ws.terminate();
});
