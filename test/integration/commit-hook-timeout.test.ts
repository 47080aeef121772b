/**
 * The target's --on-commit goes through the one hook runner, with --hook-timeout: a hung commit hook is
 * killed and handled like a failed one (the source hears the error and exits 4, the session ends, its
 * --max-migrations slot is free for the next migration).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fillImage } from '@ferry/workload';
import { FERRY, runMigrate, scratchDir } from '../helpers/ferry.js';

const SIZE = 4 * 1024 * 1024;

t.test('a hung --on-commit no longer hangs the commit', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 21 });
  const hookPid = join(dir, 'hook.pid');
  const onCommit = `if [ "$FERRY_MIGRATION_ID" = hung ]; then echo $$ > ${hookPid}; exec sleep 600; fi`;
  const target = spawn(process.execPath, [
    FERRY, 'target', '--listen', '127.0.0.1:0', '--dir', join(dir, 'target'), '--max-migrations', '1',
    '--on-commit', onCommit, '--hook-timeout', '2', '--json',
  ], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => target.kill('SIGKILL'));
  let ended: (event: Record<string, unknown>) => void = () => {};
  const firstEnd = new Promise<Record<string, unknown>>((resolve) => { ended = resolve; });
  const url = await new Promise<string>((resolve) => {
    createInterface({ input: target.stdout }).on('line', (line) => {
      const event = JSON.parse(line) as Record<string, unknown>;
      if (event['event'] === 'listening') resolve(String(event['url']));
      if (event['event'] === 'migration-end') ended(event);
    });
  });

  const hung = await runMigrate(t, ['--to', url, '--id', 'hung', '--image', `ram=${image}`]);
  t.equal(hung.code, 4, 'the source hears the failure after GO: outcome unknown');
  t.match(String((hung.summary['error'] as { message?: string } | undefined)?.message), /--on-commit hook .* did not finish within 2 s/);
  t.match(await firstEnd, { migrationId: 'hung', outcome: 'failed' }, 'the target session ended');
  t.throws(() => process.kill(Number(readFileSync(hookPid, 'utf8')), 0), 'the hung hook was killed');

  const next = await runMigrate(t, ['--to', url, '--id', 'next', '--image', `ram=${image}`]);
  t.equal(next.code, 0, `the only slot was free again: the next migration commits (stderr: ${next.stderr.slice(-500)})`);
});
