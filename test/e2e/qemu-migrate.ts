/**
 * A real QEMU guest (TCG, 256 MiB RAM in /dev/shm) migrated by ferry while it writes: `ferry target
 * --qemu-cmd` starts the target QEMU on the received RAM file and the device state, `ferry migrate
 * --qmp` pauses the source, sends the state and quits the source. The guest's heartbeat counter lives
 * in its RAM, so it must continue on the target, and its page verifier must find no bad page.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import type { Test } from 'tap';
import { launchTargetQemu, QemuLaunchError, QemuSourceDriver } from '@ferry/qemu';
import { runMigrate } from '../helpers/ferry.js';
import {
  alive, buildGuest, QemuScratch, readHeartbeats, spawnQemu, startQemuTarget, startSourceQemu, targetTemplate, waitForHeartbeats, type GuestOptions,
} from '../helpers/qemu.js';

/** This suite, on a subtest that test/e2e/guests-ram.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function qemuMigrate(t: Test): Promise<void> {
  t.setTimeout(360_000); // boots a guest under TCG and migrates 256 MiB
  t.test('a writing QEMU guest moves to the target and keeps counting', { timeout: 300_000 }, async (t) => {
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 256, touchMiB: 64, rate: 2000, sweep: 4 };
    const scratch = new QemuScratch(t);
    const source = await startSourceQemu(scratch, options);
    const target = await startQemuTarget(t, scratch, options);
    const before = readHeartbeats(source.serialPath).length;
    const run = await runMigrate(t, ['--to', target.url, '--image', `ram=${source.ramPath}`, '--qmp', source.qmpPath]);
    t.equal(run.code, 0, 'migrate exits 0');
    if (run.code !== 0) t.comment(run.stderr.slice(-3000));
    t.comment(`summary: ${JSON.stringify(run.summary)}`);

    const sourceCode = await Promise.race([source.exited, new Promise((resolve) => setTimeout(resolve, 10_000, 'running'))]);
    t.not(sourceCode, 'running', 'the source QEMU has exited (ferry told it to quit)');
    const sourceBeats = readHeartbeats(source.serialPath);
    t.ok(sourceBeats.length > before, 'the source guest kept writing during pre-copy');
    const lastSource = sourceBeats.at(-1)!;
    t.equal(sourceBeats.filter((b) => b.bad > 0).length, 0, 'the source guest never saw a bad page');

    let pid = 0;
    try {
      pid = Number(readFileSync(target.pidPath, 'utf8').trim());
    } catch {
      // asserted below
    }
    t.ok(pid > 0 && alive(pid), 'the target QEMU runs, started by ferry target');
    const targetBeats = await waitForHeartbeats(target.serialPath, (beats) => beats.length >= 12, 60_000).catch((error: Error) => {
      t.fail(error.message);
      return readHeartbeats(target.serialPath);
    });
    const first = targetBeats[0];
    t.ok(first !== undefined && first.counter > lastSource.counter && first.counter <= lastSource.counter + 3,
      `the counter continues: source ended at HB ${lastSource.counter}, target starts at HB ${first?.counter}`);
    t.ok(targetBeats.every((b, i) => i === 0 || b.counter === targetBeats[i - 1]!.counter + 1), 'the target counter is strictly increasing by one');
    t.ok(targetBeats.length >= 10 && targetBeats.every((b) => b.bad === 0), `bad=0 for ${targetBeats.length} heartbeats after resume`);
    t.ok(targetBeats.at(-1)!.ok > lastSource.ok, 'the verifier keeps checking pages on the target');
  });

  t.test('the driver alone: device state into a matching target loads, a mismatched target fails with QEMU\'s reason', async (t) => {
    const options: GuestOptions = { guest: buildGuest(), ramMiB: 256 };
    const scratch = new QemuScratch(t);
    const source = spawnQemu(scratch, options, 'source', ['-S']); // never started: no boot needed
    const driver = await QemuSourceDriver.connect(source.qmpPath, { timeoutMs: 20_000 });
    await driver.pause();
    const saved = await driver.saveDeviceState(scratch.path('qemu-state'));
    t.ok(saved.bytes > 10_000 && saved.bytes < 4 * 2 ** 20, `device state only, RAM skipped: ${saved.bytes} bytes in ${saved.durationMs} ms`);
    copyFileSync(source.ramPath, scratch.path('bad.ram'));
    copyFileSync(source.ramPath, scratch.path('good.ram'));

    const workDir = scratch.path('work');
    mkdirSync(workDir);
    const pidFile = scratch.path('bad.pid');
    scratch.killAtEnd(pidFile);
    const mismatched = targetTemplate({ ...options, ramMiB: 128 }, scratch.path('bad-serial.log'), pidFile);
    const error = await launchTargetQemu({ template: mismatched, images: { ram: scratch.path('bad.ram') }, deviceStatePath: scratch.path('qemu-state'), workDir }).catch((e: unknown) => e);
    t.ok(error instanceof QemuLaunchError, 'a target QEMU with another RAM size is refused');
    t.match((error as Error).message, /exited \(code 1\).*Size mismatch/, 'the error carries the exit and qemu.log');

    const goodPid = scratch.path('good.pid');
    scratch.killAtEnd(goodPid);
    const launched = await launchTargetQemu({
      template: targetTemplate(options, scratch.path('good-serial.log'), goodPid), images: { ram: scratch.path('good.ram') }, deviceStatePath: scratch.path('qemu-state'), workDir,
    });
    t.ok(alive(launched.pid), `the matching target QEMU runs (pid ${launched.pid}), detached from the launcher`);
    await driver.quit();
    t.not(await Promise.race([source.exited, new Promise((resolve) => setTimeout(resolve, 5000, 'running'))]), 'running', 'quit() ends the source QEMU');
  });
}
