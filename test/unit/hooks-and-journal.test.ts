/**
 * The one hook runner (a real /bin/sh: timeout, abort, environment, stderr in the message) and the pure
 * recovery advice of the source's journal.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, FerryError } from '@ferry/protocol';
import { prepareHook, runHook } from '@ferry/serve';
import { adviseRecovery, MigrationJournal, readJournals, type JournalEntry } from '@ferry/agent-source';
import { scratchDir } from '../helpers/ferry.js';
import { waitForFile } from '../helpers/files.js';

t.test('runHook: environment, exit status and the tail of stderr', async (t) => {
  const dir = scratchDir(t);
  await runHook({ name: 'state', command: `printf %s "$FERRY_X" > ${join(dir, 'out')}`, env: { FERRY_X: 'value' }, timeoutMs: 10_000 });
  t.equal(readFileSync(join(dir, 'out'), 'utf8'), 'value');
  await t.rejects(runHook({ name: 'pause', command: 'echo "no such VM" >&2; exit 7', timeoutMs: 10_000 }),
    { code: ErrorCode.Hook, message: 'pause hook "echo "no such VM" >&2; exit 7" failed (exit 7): no such VM' });
});

t.test('runHook: a hook past its timeout is killed with what it started', async (t) => {
  const dir = scratchDir(t);
  const ready = join(dir, 'ready');
  const childKilled = join(dir, 'child-killed');
  const background = `(trap 'touch ${childKilled}; exit 1' TERM; touch ${ready}; sleep 600 & wait) &`;
  await t.rejects(runHook({ name: '--on-commit', command: `${background} while [ ! -e ${ready} ]; do sleep 0.01; done; wait`, timeoutMs: 1000 }),
    { code: ErrorCode.Hook, message: /did not finish within 1 s and was killed/ });
  await waitForFile(childKilled, 10_000);
  t.pass('a process the hook started in the background was stopped with it');
});

t.test('runHook: an abort stops the hook and settles only after it exited', async (t) => {
  const dir = scratchDir(t);
  const started = join(dir, 'started');
  const ended = join(dir, 'ended');
  const controller = new AbortController();
  const reason = new FerryError(ErrorCode.Aborted, 'cancelled by the user');
  const run = runHook({ name: 'pause', command: `trap 'touch ${ended}; exit 1' TERM; touch ${started}; sleep 600 & wait`, timeoutMs: 60_000, signal: controller.signal });
  await waitForFile(started);
  controller.abort(reason);
  await t.rejects(run, reason);
  t.ok(existsSync(ended), 'the hook had run its TERM trap and exited before the run settled');
  await t.rejects(runHook({ name: 'pause', command: 'true', timeoutMs: 1000, signal: controller.signal }), reason, 'an aborted signal runs nothing');
});

t.test('prepareHook: the command runs only when told, as runHook would run it', async (t) => {
  const dir = scratchDir(t);
  const out = join(dir, 'out');
  // `cat` would wait forever on the shell's stdin pipe: the command gets /dev/null, as with runHook.
  const hook = prepareHook({ name: 'pause', command: `cat; printf %s "$FERRY_X" > ${out}`, env: { FERRY_X: 'ready' }, timeoutMs: 10_000 });
  t.notOk(existsSync(out), 'nothing ran when prepared');
  await hook.run();
  t.equal(readFileSync(out, 'utf8'), 'ready', 'the command ran with its environment');
  await t.rejects(hook.run(), { code: ErrorCode.Internal }, 'a prepared hook runs once');
  const failing = prepareHook({ name: 'pause', command: 'echo "no such VM" >&2; exit 7', timeoutMs: 10_000 });
  await t.rejects(failing.run(), { code: ErrorCode.Hook, message: 'pause hook "echo "no such VM" >&2; exit 7" failed (exit 7): no such VM' });
});

t.test('prepareHook: discarded or aborted, the command never runs and the shell is gone', async (t) => {
  const dir = scratchDir(t);
  const discarded = prepareHook({ name: 'pause', command: `touch ${join(dir, 'discarded')}`, timeoutMs: 10_000 });
  await discarded.discard();
  t.notOk(existsSync(join(dir, 'discarded')), 'a discarded hook ran nothing');
  const controller = new AbortController();
  const reason = new FerryError(ErrorCode.Aborted, 'cancelled by the user');
  controller.abort(reason);
  const aborted = prepareHook({ name: 'pause', command: `touch ${join(dir, 'aborted')}`, timeoutMs: 10_000 });
  await t.rejects(aborted.run(controller.signal), reason);
  t.notOk(existsSync(join(dir, 'aborted')), 'an aborted signal runs nothing');
  const started = join(dir, 'started');
  const ended = join(dir, 'ended');
  const later = new AbortController();
  const running = prepareHook({ name: 'pause', command: `trap 'touch ${ended}; exit 1' TERM; touch ${started}; sleep 600 & wait`, timeoutMs: 60_000 });
  const run = running.run(later.signal);
  await waitForFile(started);
  later.abort(reason);
  await t.rejects(run, reason);
  t.ok(existsSync(ended), 'a running prepared hook is stopped like any other before the run settles');
});

t.test('prepareHook: a hook that runs a script is watched through the script, whose TERM trap ends before the run settles', async (t) => {
  const dir = scratchDir(t);
  const started = join(dir, 'started');
  const ended = join(dir, 'ended');
  const script = join(dir, 'pause.sh');
  // A slow trap: a watched shell that only forked the script would be gone long before it ends. Its
  // message is written after the shell is gone, to the stderr pipe the script shares with it.
  writeFileSync(script, `trap 'sleep 0.3; echo cleaning up >&2; touch ${ended}; exit 143' TERM\ntouch ${started}\nsleep 600 & wait $!\n`);
  const controller = new AbortController();
  const reason = new FerryError(ErrorCode.Aborted, 'cancelled by the user');
  const run = prepareHook({ name: 'pause', command: `sh ${script}`, timeoutMs: 60_000 }).run(controller.signal);
  await waitForFile(started);
  controller.abort(reason);
  await t.rejects(run, reason);
  t.ok(existsSync(ended), 'the script had run its trap and exited before the run settled');
});

t.test('runHook: what a hook leaves running can still write to its stderr after the hook ended', async (t) => {
  const alive = join(scratchDir(t), 'alive');
  await runHook({ name: 'resume', command: `(sleep 0.3; echo still here >&2; touch ${alive}) &`, timeoutMs: 10_000 });
  await waitForFile(alive, 10_000);
  t.pass('the background process wrote to stderr and went on (a closed pipe would have killed it with SIGPIPE)');
});

t.test('adviseRecovery: resume only after the pause and before GO, and never while the process lives', async (t) => {
  const entry: JournalEntry = { migrationId: 'm', pid: 1, target: 'ws://t', phase: 'verify', paused: true, goSent: false, recovery: {}, updatedAt: '' };
  t.equal(adviseRecovery(entry, false).action, 'resume');
  t.equal(adviseRecovery(entry, true).action, 'running');
  t.equal(adviseRecovery({ ...entry, phase: 'precopy', paused: false }, false).action, 'nothing');
  t.equal(adviseRecovery({ ...entry, phase: 'go-sent', goSent: true }, false).action, 'go-sent');
  t.match(adviseRecovery({ ...entry, phase: 'unknown', goSent: true }, false).message, /GO was sent to ws:\/\/t, do not resume/);
});

t.test('MigrationJournal: an earlier journal that recover still needs is never overwritten', async (t) => {
  const stateDir = join(scratchDir(t), 'journal');
  const first = MigrationJournal.open(stateDir, 'm1', 'ws://t', { resumeCmd: 'true' });
  first.record({ name: 'pausing', pass: 3, reason: 'xen' });
  t.throws(() => MigrationJournal.open(stateDir, 'm1', 'ws://t', {}), { code: ErrorCode.Conflict, message: /still running .*run ferry recover first/ });
  t.match(readJournals(stateDir).entries, [{ migrationId: 'm1', phase: 'pausing', paused: true, goSent: false, recovery: { resumeCmd: 'true' } }]);
  first.record({ name: 'go-sent' });
  // As if that process had been killed: a pid that no longer runs.
  const file = join(stateDir, 'm1', 'journal.json');
  writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), pid: spawnSync('true').pid }));
  MigrationJournal.open(stateDir, 'm1', 'ws://t', {});
  t.match(readJournals(stateDir).entries, [{ migrationId: 'm1', phase: 'connecting', goSent: false }], 'a journal whose GO was sent only informs: a new run replaces it');
  first.remove();
  t.same(readJournals(stateDir), { entries: [], refused: [] }, 'a migration that ended removes its journal');
  MigrationJournal.open(stateDir, 'm1', 'ws://t', {}).remove();
});
