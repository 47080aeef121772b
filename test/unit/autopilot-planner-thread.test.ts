/**
 * The autopilot plans on a thread of its own, so its /status and signals are served while HiGHS searches:
 * the thread's plan equals the one made in place, the main loop turns while it is made, and a plan that
 * fails comes back as an error naming the period. It loads the built CLI (npm test builds first): the
 * worker thread runs compiled JavaScript.
 */
import t from 'tap';
import { highsSolver } from '../../cli/src/highs-solver.js';
import { parseAutopilotScenario } from '../../cli/src/autopilot/config.js';
import { planPeriod } from '../../cli/src/autopilot/plan-period.js';
import type * as PlannerThread from '../../cli/src/autopilot/planner-thread.js';
import type { Scenario } from '@ferry/planner';
import { pathToFileURL } from 'node:url';
import { joulesPerBitFor, lineScenario } from '../helpers/planner.js';
import { repoPath } from '../helpers/repo.js';

// The built module, found from the checkout's root: this file may run from .cache/tests.
const { startPlannerThread } = (await import(pathToFileURL(repoPath('cli', 'dist', 'autopilot', 'planner-thread.js')).href)) as typeof PlannerThread;

/** Three DCs on a line, four VMs at west, east far cheaper: the plan moves VMs east. */
function fleet(): Scenario {
  const doc = lineScenario({ prices: { west: [0.3, 0.3], mid: [0.3, 0.3], east: [0.1, 0.1] }, dcs: [{ name: 'west', maxVMs: 4 }, { name: 'mid', maxVMs: 4 }, { name: 'east', maxVMs: 4 }], placement: [{ dc: 'west', count: 4 }], joulesPerBit: joulesPerBitFor(0.001, 0.7) });
  doc['datacenters'] = (doc['datacenters'] as Array<Record<string, unknown>>).map((d, i) => ({ ...d, sourceUrl: `http://127.0.0.1:${7100 + i}`, targetUrl: `ws://127.0.0.1:${7200 + i}` }));
  doc['inventory'] = ['vm-a', 'vm-b', 'vm-c', 'vm-d'].map((name) => ({ name, class: 'std', dc: 'west', image: `/images/${name}.img` }));
  doc['autopilot'] = { targetDirs: { west: '/srv/west', mid: '/srv/mid', east: '/srv/east' } };
  return parseAutopilotScenario(doc).scenario;
}
const scenario = fleet();

t.test('a period planned on the thread is the period planned in place, and the main loop turns meanwhile', async (t) => {
  const thread = startPlannerThread({ timeLimitSeconds: 30, relativeGap: 1e-4 });
  t.teardown(() => thread.close());
  const counts = [[4], [0], [0]];
  const charge = { kind: 'memory' } as const;
  let turned = false;
  setImmediate(() => { turned = true; });
  const planned = await thread.plan(scenario, counts, 0, charge);
  t.ok(turned, 'the main thread ran its queue before the plan came back');
  const inPlace = planPeriod(scenario, counts, 0, charge, await highsSolver());
  t.same(planned, inPlace);
  t.ok(planned.moves.length > 0, 'the cheap east draws the fleet');
});

t.test('a plan that fails is an error naming the period, and the thread goes on serving', async (t) => {
  const thread = startPlannerThread({ timeLimitSeconds: 30, relativeGap: 1e-4 });
  t.teardown(() => thread.close());
  await t.rejects(thread.plan(scenario, [[4]], 1, { kind: 'memory' }), /planning period 1 failed/);
  t.ok((await thread.plan(scenario, [[4], [0], [0]], 1, { kind: 'memory' })).moves.length > 0);
});
