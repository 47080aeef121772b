/**
 * Where journals live by default and what a journal may make `ferry recover` do: the pure parts (the
 * default state directory, the throttle steps a journal may hold) and MigrationJournal against a state
 * directory another user created first.
 */
import t from 'tap';
import { chownSync, mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '@ferry/protocol';
import { defaultStateDir, MigrationJournal } from '@ferry/agent-source';
import { throttleRecovery, type UndoStep } from '@ferry/throttle';
import { scratchDir } from '../helpers/ferry.js';

t.test('the default state directory is never a shared one', async (t) => {
  t.equal(defaultStateDir({ XDG_RUNTIME_DIR: '/run/user/0' }, 0, '/root'), '/run/ferry', 'root: one system path, whatever the environment');
  t.equal(defaultStateDir({}, 0, '/root'), '/run/ferry');
  t.equal(defaultStateDir({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000, '/home/u'), '/run/user/1000/ferry');
  t.equal(defaultStateDir({}, 1000, '/home/u'), '/home/u/.local/state/ferry', 'no runtime directory: under the home, not the temp directory');
  for (const uid of [0, 1000]) t.notOk(defaultStateDir({}, uid, '/home/u').startsWith(tmpdir()), `uid ${uid}: not under ${tmpdir()}`);
});

t.test('a journal is kept only in a state directory private to this user, created 0700', async (t) => {
  const fresh = join(scratchDir(t), 'a', 'state');
  MigrationJournal.open(fresh, 'm', 'ws://t', {});
  t.equal(statSync(fresh).mode & 0o777, 0o700, 'created private');
  t.equal(statSync(join(fresh, 'm', 'journal.json')).mode & 0o777, 0o600);
  const planted = join(scratchDir(t), 'planted');
  mkdirSync(planted, { mode: 0o700 });
  chownSync(planted, 65534, 65534);
  t.throws(() => MigrationJournal.open(planted, 'm', 'ws://t', {}), { code: ErrorCode.Untrusted, message: `${planted} is owned by uid 65534` });
});

t.test('a journal\'s cpu-max steps write only numbers to cgroup CPU limit files', async (t) => {
  const step = (file: string, value: string): UndoStep => ({ kind: 'cpu-max', file, value });
  const good = [step('/sys/fs/cgroup/vm/cpu.max', 'max 100000'), step('/sys/fs/cgroup/vm/cpu.max', '50000 100000'), step('/sys/fs/cgroup/cpu,cpuacct/vm/cpu.cfs_quota_us', '-1')];
  t.same(throttleRecovery({ goSent: true, throttleUndo: good }), { run: good, withheld: [], refused: [] });
  const bad = [
    step('/etc/passwd', 'max 100000'), step('/sys/fs/cgroup/vm/../../../etc/cpu.max', 'max'), step('/sys/fs/cgroup/vm/cgroup.procs', '1'),
    step('/sys/fs/cgroup/vm/cpu.max', 'max 100000\n1'), step('/sys/fs/cgroup/vm/cpu.cfs_quota_us', 'max'), step('relative/cpu.max', 'max'),
  ];
  const recovery = throttleRecovery({ goSent: false, throttleUndo: bad });
  t.same(recovery.run, [], 'none of them runs');
  t.match(recovery.refused, [/^\/etc\/passwd is not a cgroup CPU limit file/, /is not a cgroup CPU limit file/, /cgroup\.procs is not a cgroup CPU limit file/,
    /^"max 100000\\n1" is not a CPU limit/, /^"max" is not a CPU limit/, /^relative\/cpu\.max is not/]);
});
