/**
 * What this host's kernel may lack, in one boot of Debian's stock kernel under QEMU TCG with node and
 * ferry inside the guest (test/helpers/node-guest.ts): guest/soft-dirty-netem.sh runs two scenarios.
 *
 * The soft-dirty dirty log (guest/soft-dirty-scenario.sh): a ferry target on the guest's loopback and
 * `ferry migrate --dirty-log soft-dirty` of a 64 MiB /dev/shm file that guest/mapwriter keeps rewriting
 * through a shared mapping, at every instant, including the instants ferry reads and clears the log. The
 * writer counts ferry's freezes (each ends with SIGCONT) and, when the pause hook asks, writes 100 more
 * pages, reports which pages it wrote since the last freeze, and stops itself. So: the target's image
 * must equal the source's byte for byte (a write lost between a read and a clear would leave a stale
 * page), and the final pass must have read exactly the pages written since the last pre-copy freeze (the
 * summary's counter), not the whole image.
 *
 * The compose stack's WAN (guest/netem-scenario.sh): docker/wan.sh itself shapes both ends of a veth
 * pair between two network namespaces with tc netem (delay and rate), as each compose container shapes
 * its own egress, and ferry migrates a small image across. The round trip must have grown by twice the
 * delay, the pre-copy bytes must have crossed no faster than the rate, and the image must arrive intact.
 */
import type { Test } from 'tap';
import { nodeGuest, runInGuest, taggedLines } from '../helpers/node-guest.js';

const IMAGE_MIB = 64;
const HOT_PAGES = 256;
const COLD_PAGES = 100;
const PAGES = (IMAGE_MIB * 1024 * 1024) / 4096;
/**
 * ferry's default: it stops once a pass no longer shortens the pause, never before three pre-copy passes
 * (each a read and clear of the log while the writer writes). Xen's rule ran to its 30-pass cap against
 * the steady hot set: twice the migration's time under TCG, for the same three checks.
 */
const POLICY = 'smart';
/** One way, on each side: the round trip grows by twice this. */
const DELAY_MS = 20;
const RATE_MBIT = 4;
/** At RATE_MBIT, about 4 s of wire time: long against the guest's own unshaped pace (see docs/measurements.md). */
const NETEM_MIB = 2;

/** This suite, on a subtest that test/e2e/guests-ram.test.ts gives it (./guest-chain.ts: one guest suite at a time, none without QEMU). */
export async function softDirtyGuest(t: Test): Promise<void> {
  const guest = nodeGuest();
  if ('missing' in guest) {
    t.plan(0, `skipped: ${guest.missing}`);
  } else {
    t.setTimeout(600_000); // node under TCG on a shared host: minutes, not seconds (45 s alone, up to 262 s in the suite)
    const console = await runInGuest(t, guest, {
      script: 'guest/soft-dirty-netem.sh',
      args: [IMAGE_MIB, HOT_PAGES, COLD_PAGES, POLICY, 'soft-dirty', `${DELAY_MS}ms`, `${RATE_MBIT}mbit`, NETEM_MIB],
      ramMiB: 1024,
    });
    t.test('soft-dirty in a guest: byte-identical image, the final pass reads only what was written since the last pass', async (t) => {
      const exit = taggedLines(console, 'SD-EXIT')[0];
      const summaryLine = taggedLines(console, 'SD-SUMMARY')[0];
      const report = taggedLines(console, 'SD-REPORT')[0];
      t.equal(exit, '0', 'ferry migrate exits 0 in the guest');
      if (exit !== '0' || !summaryLine) {
        // The scenario prints migrate's stderr after SD-EXIT: its part of the console ends where netem's (NE-) begins.
        const netem = console.search(/^NE-/m);
        t.comment(console.slice(0, netem < 0 ? undefined : netem).slice(-6000));
        return;
      }
      const summary = JSON.parse(summaryLine) as {
        result: string; passes: number; pagesRead: number; finalPagesRead: number; finalDirtyPages: number;
        dirtyLog: Record<string, { method: string; reason: string }>;
      };
      t.comment(`summary: ${summaryLine}`);
      t.comment(`writer: ${report}`);
      t.equal(summary.result, 'committed');
      t.equal(summary.dirtyLog['ram']?.method, 'soft-dirty', 'the soft-dirty log ran to the end');
      t.same(taggedLines(console, 'SD-CMP'), ['identical'], 'the target image equals the source byte for byte');
      const counts = Object.fromEntries((report ?? '').split(' ').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
      const definite = counts['definite'] ?? NaN;
      const maybe = counts['maybe'] ?? NaN;
      t.ok(definite >= COLD_PAGES, `the writer wrote at least the ${COLD_PAGES} cold pages after the last freeze (${definite})`);
      t.ok(summary.finalPagesRead >= definite && summary.finalPagesRead <= definite + maybe,
        `the final pass read ${summary.finalPagesRead} pages: those written since the last freeze (${definite}, plus up to ${maybe} written across it)`);
      t.ok(summary.finalPagesRead < PAGES / 4, `far from the ${PAGES} pages of the image`);
      t.ok(summary.passes >= 3, `pre-copy ran passes on the log before the pause (${summary.passes} passes)`);
    });

    t.test('docker/wan.sh\'s tc netem between two namespaces: the delay and the rate hold, the image arrives intact', async (t) => {
      t.same(taggedLines(console, 'NE-WAN').map((line) => line.trim()).sort(), ['dst netem', 'src netem'], 'wan.sh applied netem on both ends');
      const qdiscs = taggedLines(console, 'NE-QDISC');
      t.equal(qdiscs.length, 2);
      for (const qdisc of qdiscs) t.match(qdisc, `delay ${DELAY_MS}ms rate ${RATE_MBIT}Mbit`, qdisc);
      const ping = /= ([\d.]+)\//.exec(taggedLines(console, 'NE-PING')[0] ?? '');
      t.ok(ping && Number(ping[1]) >= 2 * DELAY_MS, `the smallest ping round trip (${ping?.[1]} ms) is at least twice the ${DELAY_MS} ms delay`);
      const exit = taggedLines(console, 'NE-EXIT')[0];
      t.equal(exit, '0', 'ferry migrate exits 0 across the shaped link');
      const summaryLine = taggedLines(console, 'NE-SUMMARY')[0];
      if (exit !== '0' || !summaryLine) {
        t.comment(console.slice(-4000));
        return;
      }
      t.equal((JSON.parse(summaryLine) as { result: string }).result, 'committed');
      t.same(taggedLines(console, 'NE-CMP'), ['identical'], 'the target image equals the source byte for byte');
      const transfer = precopyTransfer(taggedLines(console, 'NE-EVENT'));
      t.comment(`ping: ${taggedLines(console, 'NE-PING')[0]}; the scenario took ${taggedLines(console, 'NE-TIME')[0]} s of the guest's clock`);
      t.comment(`pre-copy: ${transfer.bytes} bytes in ${transfer.seconds.toFixed(2)} s = ${(transfer.mbit).toFixed(2)} Mbit/s; ferry's rttMs ${transfer.rttMs}`);
      t.ok(transfer.bytes >= NETEM_MIB * 1024 * 1024, 'pre-copy sent the whole image');
      // The window's ends are stamped as the lines reach the guest's shell: 10% for that lateness.
      t.ok(transfer.mbit <= RATE_MBIT * 1.1, `pre-copy crossed at ${transfer.mbit.toFixed(2)} Mbit/s, within the ${RATE_MBIT} Mbit/s rate`);
    });
  }
}

/**
 * The pre-copy passes' bytes over the time from the first pass's start to the pause: ferry pauses only
 * once the target has acknowledged every pre-copy byte, so the window holds their whole crossing.
 */
function precopyTransfer(lines: readonly string[]): { bytes: number; seconds: number; mbit: number; rttMs: number } {
  const events = lines.map((line) => {
    const space = line.indexOf(' ');
    return { at: Number(line.slice(0, space)), event: JSON.parse(line.slice(space + 1)) as Record<string, unknown> };
  });
  const begin = events.find((e) => e.event['event'] === 'pass-begin' && e.event['pass'] === 0);
  const paused = events.find((e) => e.event['event'] === 'paused');
  const passes = events.filter((e) => e.event['event'] === 'pass-end' && e.event['final'] === false);
  const bytes = passes.reduce((sum, e) => sum + Number(e.event['bytesSent']), 0);
  const seconds = paused && begin ? paused.at - begin.at : NaN;
  return { bytes, seconds, mbit: (bytes * 8) / seconds / 1e6, rttMs: Number(passes.at(-1)?.event['rttMs']) };
}
