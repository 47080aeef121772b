/**
 * The `ferry plan --plots` charts as vega-lite specs, rendered to SVG headless with vega (no browser,
 * no canvas: the SVG renderer needs neither).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Plan, Scenario, Totals } from '@ferry/planner';

export interface ScenarioResult { readonly scenario: Scenario; readonly plan: Plan; readonly totals: Totals; readonly vms: number }

async function renderSvg(spec: Record<string, unknown>): Promise<string> {
  const [{ compile }, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const compiled = compile(spec as unknown as Parameters<typeof compile>[0]).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const base = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', config: { font: 'sans-serif', axis: { labelFontSize: 12, titleFontSize: 13 }, legend: { labelFontSize: 12, titleFontSize: 13, labelLimit: 300 } } };

/** (a) Operational cost over the horizon against the number of VMs, with and without migration. */
export function costVersusVmsSpec(results: readonly ScenarioResult[]): Record<string, unknown> {
  const values = results.flatMap((r) => [
    { vms: r.vms, plan: 'with migration', dollars: r.totals.dollars },
    { vms: r.vms, plan: 'without migration', dollars: r.totals.baselineDollars },
  ]);
  return {
    ...base, width: 420, height: 300, title: `Operational cost over ${results[0]?.scenario.hours ?? 0} hours`,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'vms', type: 'ordinal', title: 'VMs', axis: { labelAngle: 0 } },
      xOffset: { field: 'plan' },
      y: { field: 'dollars', type: 'quantitative', title: 'cost ($)' },
      color: { field: 'plan', type: 'nominal', title: null, scale: { range: ['#1f77b4', '#bbbbbb'] }, legend: { orient: 'top' } },
    },
  };
}

/** (b) The hour-by-hour run: cost per hour (plan and baseline) above the VMs each DC hosts. */
export function dayRunSpec(r: ScenarioResult): Record<string, unknown> {
  const cost = r.plan.hours.flatMap((h, t) => [
    { hour: h.hour, series: 'plan: DC energy', dollars: h.dcDollars },
    { hour: h.hour, series: 'plan: migration energy', dollars: h.migrationDollars },
    { hour: h.hour, series: 'no migration', dollars: r.plan.baseline[t]!.dcDollars },
  ]);
  const vms = r.plan.hours.flatMap((h) => r.scenario.datacenters.map((dc, d) => ({ hour: h.hour, dc: dc.name, vms: h.vms[d]!.reduce((a, b) => a + b, 0) })));
  return {
    ...base, title: `${r.scenario.name}: hour by hour`,
    resolve: { scale: { color: 'independent' }, legend: { color: 'independent' } },
    vconcat: [
      { width: 560, height: 200, data: { values: cost }, mark: { type: 'line', point: true, interpolate: 'step-after' },
        encoding: { x: { field: 'hour', type: 'quantitative', title: 'hour (UTC)' }, y: { field: 'dollars', type: 'quantitative', title: 'cost per hour ($)' }, color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['plan: DC energy', 'plan: migration energy', 'no migration'], range: ['#1f77b4', '#2ca02c', '#999999'] }, legend: { orient: 'top' } } } },
      { width: 560, height: 200, data: { values: vms }, mark: { type: 'bar' },
        encoding: { x: { field: 'hour', type: 'ordinal', title: 'hour (UTC)', axis: { labelAngle: 0 } }, y: { field: 'vms', type: 'quantitative', title: 'VMs hosted', stack: 'zero' }, color: { field: 'dc', type: 'nominal', title: 'data centre', legend: { orient: 'top' } } } },
    ],
  };
}

/** Writes the charts into `dir`; returns the files written. */
export async function writeCharts(dir: string, results: readonly ScenarioResult[]): Promise<string[]> {
  const files: string[] = [];
  if (results.length > 1) {
    files.push(join(dir, 'plan-cost-vs-vms.svg'));
    writeFileSync(files.at(-1)!, await renderSvg(costVersusVmsSpec(results)));
  }
  const last = results.at(-1)!;
  files.push(join(dir, `plan-${last.scenario.name}-hours.svg`));
  writeFileSync(files.at(-1)!, await renderSvg(dayRunSpec(last)));
  return files;
}
