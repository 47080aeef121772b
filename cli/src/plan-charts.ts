/**
 * The `ferry plan --plots` charts as vega-lite specs, rendered to SVG headless with vega (no browser,
 * no canvas: the SVG renderer needs neither).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectRacks, type Plan, type Scenario, type Totals } from '@ferry/planner';

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

/** A bar's label: the scenario, its VMs and (when the scenarios differ in it) its horizon. */
function barLabel(r: ScenarioResult, sameHorizon: boolean): string {
  return `${r.scenario.name} (${r.vms} VMs${sameHorizon ? '' : `, ${r.scenario.hours} h`})`;
}

/** (a) Operational cost over each scenario's horizon against the number of VMs, with and without migration. */
export function costVersusVmsSpec(results: readonly ScenarioResult[]): Record<string, unknown> {
  const horizons = new Set(results.map((r) => r.scenario.hours));
  const sameHorizon = horizons.size === 1;
  const values = results.flatMap((r) => [
    { scenario: barLabel(r, sameHorizon), plan: 'with migration', dollars: r.totals.dollars },
    { scenario: barLabel(r, sameHorizon), plan: 'without migration', dollars: r.totals.baselineDollars },
  ]);
  return {
    ...base, width: 420, height: 300, title: sameHorizon ? `Operational cost over ${[...horizons][0]} hours` : 'Operational cost over each scenario\'s horizon',
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'scenario', type: 'nominal', sort: null, title: 'scenario', axis: { labelAngle: 0, labelLimit: 200 } },
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
    vconcat: [...hourPanels(cost, vms), ...requestPanels(r), racksPanel(r)],
  };
}

function hourPanels(cost: unknown[], vms: unknown[]): Array<Record<string, unknown>> {
  return [
      { width: 560, height: 200, data: { values: cost }, mark: { type: 'line', point: true, interpolate: 'step-after' },
        encoding: { x: { field: 'hour', type: 'quantitative', title: 'hour (UTC)' }, y: { field: 'dollars', type: 'quantitative', title: 'cost per hour ($)' }, color: { field: 'series', type: 'nominal', title: null, scale: { domain: ['plan: DC energy', 'plan: migration energy', 'no migration'], range: ['#1f77b4', '#2ca02c', '#999999'] }, legend: { orient: 'top' } } } },
      { width: 560, height: 200, data: { values: vms }, mark: { type: 'bar' },
        encoding: { x: { field: 'hour', type: 'ordinal', title: 'hour (UTC)', axis: { labelAngle: 0 } }, y: { field: 'vms', type: 'quantitative', title: 'VMs hosted', stack: 'zero' }, color: { field: 'dc', type: 'nominal', title: 'data centre', legend: { orient: 'top' } } } },
  ];
}

/** With lifetimes or a queue: VMs that left and requests waiting, plan and no-migration baseline. */
function requestPanels(r: ScenarioResult): Array<Record<string, unknown>> {
  if (r.plan.kinds.length === 0 && r.totals.departed === 0) return [];
  const waiting = (h: Plan['hours'][number]): number => h.waiting.flat().reduce((a, b) => a + b, 0);
  const values = r.plan.hours.flatMap((h, t) => [
    { hour: h.hour, series: 'left (lifetime over)', vms: h.departed },
    { hour: h.hour, series: 'plan: waiting', vms: waiting(h) },
    { hour: h.hour, series: 'no migration: waiting', vms: waiting(r.plan.baseline[t]!) },
  ]);
  return [{ width: 560, height: 140, data: { values }, mark: { type: 'line', point: true, interpolate: 'step-after' },
    encoding: { x: { field: 'hour', type: 'quantitative', title: 'hour (UTC)' }, y: { field: 'vms', type: 'quantitative', title: 'VMs' }, color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#d62728', '#1f77b4', '#999999'] }, legend: { orient: 'top' } } } }];
}

/** Which racks each DC keeps on, hour by hour (one row per DC and rack). */
function racksPanel(r: ScenarioResult): Record<string, unknown> {
  const picked = selectRacks(r.plan.hours, r.scenario.power.serversPerRack);
  const values = picked.flatMap((p) => r.scenario.datacenters.flatMap((dc, d) => p.on[d]!.map((rack) => ({ hour: p.hour, rack: `${dc.name} rack ${rack}`, dc: dc.name }))));
  return { width: 560, data: { values }, mark: { type: 'rect' }, title: 'racks switched on',
    encoding: { x: { field: 'hour', type: 'ordinal', title: 'hour (UTC)', axis: { labelAngle: 0 } }, y: { field: 'rack', type: 'nominal', title: null, sort: null }, color: { field: 'dc', type: 'nominal', title: 'data centre', legend: null } } };
}

/** Writes the charts into `dir`; returns the files written. */
export async function writeCharts(dir: string, results: readonly ScenarioResult[]): Promise<string[]> {
  const files: string[] = [];
  if (results.length > 1) {
    files.push(join(dir, 'plan-cost-vs-vms.svg'));
    writeFileSync(files.at(-1)!, await renderSvg(costVersusVmsSpec(results)));
  }
  for (const r of results) {
    files.push(join(dir, `plan-${r.scenario.name.replace(/[^A-Za-z0-9._-]/g, '_')}-hours.svg`));
    writeFileSync(files.at(-1)!, await renderSvg(dayRunSpec(r)));
  }
  return files;
}
