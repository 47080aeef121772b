/**
 * Acceptance: under a writer that dirties faster than the (rate-limited) link can carry, each policy ends
 * pre-copy exactly where its rule, applied to the passes this run really made, says stop (not a pass
 * earlier or later), with that rule's reason, and every run commits a byte-identical image. Which rule
 * fires first (smart's "another pass cannot shorten the pause" or xen's 3x safety net) and how many passes each policy takes
 * depend on how fast the writer and the link get to run on a loaded machine: `npm run bench:timing`
 * measures that. The rules themselves are unit-tested on recorded histories (test/unit/policies.test.ts).
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { DRAIN_PASSES, POLICIES, isPolicyName, type PassRecord, type PolicyContext } from '@ferry/agent-source';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget, startWorkload } from '../helpers/ferry.js';

const SIZE = 32 * 1024 * 1024;
const LINK = '24MB/s';
const WRITER = '32MiB/s';

async function hotMigration(t: Test, policy: string, extra: string[] = []) {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 11 });
  const workload = await startWorkload(t, image, SIZE, 'compile', WRITER);
  const target = await startTarget(t, join(dir, 'target'));
  const id = `policy-${policy}`;
  const run = await runMigrate(t, [
    '--to', target.url, '--id', id, '--image', `ram=${image}`, '--policy', policy, '--rate-limit', LINK,
    '--pause-cmd', `kill -STOP ${workload.pid}`, '--resume-cmd', `kill -CONT ${workload.pid}`, ...extra,
  ]);
  t.equal(run.code, 0, `migrate exits 0 (stderr: ${run.stderr.slice(-1500)})`);
  t.equal(await sha256(join(dir, 'target', id, 'ram')), await sha256(image), 'target image == paused source image');
  const passEnds = run.events.filter((e) => e['event'] === 'pass-end' && e['final'] === false);
  t.comment(`${policy}: ${passEnds.length} pre-copy passes, dirty ${passEnds.map((e) => e['dirtyPages']).join(' ')}, ` +
    `${Number(run.summary['bytesSent']) / SIZE} x image sent, stop: ${String(run.summary['stopReason'])}`);
  // Each decision counted the round trip and link queue measured by then; the replay uses the same.
  return {
    run, history: passEnds.map(toPassRecord), rtts: passEnds.map((e) => Number(e['rttMs'] ?? 0)),
    queues: passEnds.map((e) => (e['linkQueueMs'] === undefined ? undefined : Number(e['linkQueueMs']))), stopReason: String(run.summary['stopReason'] ?? ''),
    deferred: passEnds.map((e) => (e['deferredStop'] === undefined ? undefined : String(e['deferredStop']))),
  };
}

const toPassRecord = (e: Record<string, unknown>): PassRecord => ({
  pass: Number(e['pass']), dirtyPages: Number(e['dirtyPages']), bytesSent: Number(e['bytesSent']),
  durationMs: Number(e['durationMs']), bandwidth: Number(e['bandwidth']),
});

/**
 * The policy, replayed on the run's own history, keeps going until the last pre-copy pass and stops there,
 * but for the passes whose stop ferry put off while the link drained (`deferredStop`, at most DRAIN_PASSES).
 */
interface Replay {
  readonly history: readonly PassRecord[];
  readonly rtts: readonly number[];
  readonly queues: readonly (number | undefined)[];
  readonly stopReason: string;
  readonly deferred: readonly (string | undefined)[];
}

function assertStoppedByRule(t: Test, policy: string, run: Replay, context: PolicyContext): void {
  if (!isPolicyName(policy)) throw new Error(`no policy ${policy}`);
  const rule = POLICIES[policy];
  const { history, rtts, queues, stopReason, deferred } = run;
  const at = (i: number): PolicyContext => ({ ...context, rttMs: rtts[i] ?? 0, linkQueueMs: queues[i] });
  t.ok(history.length > 0, `${policy}: ${history.length} pre-copy passes`);
  const said = history.slice(0, -1).map((_, i) => {
    const decision = rule(history.slice(0, i + 1), at(i));
    return decision.stop ? decision.reason : undefined;
  });
  t.same(said, deferred.slice(0, -1), `${policy}: before the last pre-copy pass the rule said stop only where ferry put the stop off while the link drained`);
  const putOff = deferred.filter((reason) => reason !== undefined).length;
  t.ok(putOff <= DRAIN_PASSES, `${policy}: ${putOff} stops put off, at most ${DRAIN_PASSES}`);
  const decision = rule(history, at(history.length - 1));
  t.ok(decision.stop, `${policy}: the rule says stop after pass ${history.at(-1)?.pass}`);
  if (decision.stop) t.equal(stopReason, decision.reason, `${policy}: the summary gives the rule's reason`);
}

t.test('each policy stops pre-copy exactly where its rule says, and every run commits', async (t) => {
  const context = { imageBytes: SIZE };
  const xen = await hotMigration(t, 'xen');
  assertStoppedByRule(t, 'xen', xen, context);
  t.match(xen.stopReason, /^xen: /, 'xen stopped on its own limits');

  const smart = await hotMigration(t, 'smart');
  assertStoppedByRule(t, 'smart', smart, context);
  t.match(smart.stopReason, /^(smart: pass \d+|xen: )/, 'smart stopped where another pass could not shorten the pause, or on xen\'s safety net');

  const downtime = await hotMigration(t, 'downtime', ['--max-downtime', '3000']);
  assertStoppedByRule(t, 'downtime', downtime, { ...context, maxDowntimeMs: 3000 });
  t.match(downtime.stopReason, /^(downtime: estimated pause \d+ ms <= 3000 ms|xen: )/, 'downtime stopped when its estimate fit, or on xen\'s safety net');
});
