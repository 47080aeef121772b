// The live page of a ferry daemon: reads GET /status once, then follows the /events WebSocket and draws
// the chosen migration with uPlot. Plain browser JavaScript, no build step; the browser's page cookie
// authenticates both requests (the page never holds the token).
/* global uPlot */
'use strict';

const MiB = 1024 * 1024;
const migrations = new Map();
let chosen; // the migration id shown; follows the newest one unless the user picks another
let userChose = false;
let role = '';
const charts = {};
let drawQueued = false;

function migration(id) {
  let m = migrations.get(id);
  if (!m) {
    m = {
      id, startedAt: Date.now(), phase: 'started', pass: 0, result: undefined, expectedAtPause: undefined,
      passes: [[], [], []], rates: [[], [], [], []], pause: [[], [], []], timeline: [],
    };
    migrations.set(id, m);
    const option = document.createElement('option');
    option.value = id;
    option.textContent = id;
    document.getElementById('migration').append(option);
    if (!userChose) choose(id);
  }
  return m;
}

function choose(id) {
  chosen = id;
  document.getElementById('migration').value = id;
  queueDraw();
}

const seconds = (m) => (Date.now() - m.startedAt) / 1000;
const fmt = (n, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '–');

function note(m, text) {
  m.timeline.push({ at: seconds(m), text });
}

function onRates(m, e) {
  if (e.sendRate === undefined && e.dirtyRate === undefined) return;
  m.rates[0].push(seconds(m));
  m.rates[1].push(e.sendRate === undefined ? null : e.sendRate / 1e6);
  m.rates[2].push(e.dirtyRate === undefined ? null : e.dirtyRate / 1e6);
  m.rates[3].push(e.throttle ?? 0);
  if (e.expectedPauseMs !== undefined) {
    m.pause[0].push(seconds(m));
    m.pause[1].push(e.expectedPauseMs);
    m.pause[2].push(null);
    m.lastExpectedPauseMs = e.expectedPauseMs;
  }
  m.sendRate = e.sendRate;
  m.dirtyRate = e.dirtyRate;
  m.throttle = e.throttle;
}

function onPassEnd(m, e) {
  const dirty = e.dirtyPages ?? e.pages ?? 0;
  const bytes = e.bytesSent ?? e.bytes ?? 0;
  m.pass = e.pass;
  m.passes[0].push(e.pass);
  m.passes[1].push(dirty);
  m.passes[2].push(bytes / MiB);
  note(m, `pass ${e.pass} ended: ${dirty} pages dirty, ${fmt(bytes / MiB)} MiB sent${e.final ? ' (final)' : ''}`);
  onRates(m, e);
}

/**
 * Source and target events, named as in packages/serve/src/vocabulary.ts (a test checks every case below
 * against it); others are listed in the timeline as they come.
 */
function onEvent(e) {
  if (e.event === 'status') return onStatus(e);
  if (typeof e.migrationId !== 'string') return;
  const m = migration(e.migrationId);
  switch (e.event) {
    case 'progress': m.pass = e.pass; m.phase = `pass ${e.pass}`; onRates(m, e); break;
    case 'pass-end': onPassEnd(m, e); break;
    case 'pass-begin': m.phase = e.final ? 'final pass' : `pass ${e.pass}`; break;
    case 'paused': m.phase = 'paused'; m.expectedAtPause = m.lastExpectedPauseMs; note(m, `paused (${e.reason})`); break;
    case 'resumed': onResumed(m, e.pauseMs); break;
    case 'throttle': m.throttle = e.level; note(m, `throttle ${e.level}%: ${e.reason}`); break;
    case 'summary': onSummary(m, e.summary); break;
    case 'committed': m.phase = 'committed'; m.result = { result: 'committed' }; note(m, 'committed'); break;
    case 'failed': m.phase = 'failed'; m.result = { result: 'failed', error: { code: e.code, message: e.reason } }; note(m, `failed: ${e.reason}`); break;
    case 'failed-to-start': m.result = { result: 'failed-to-start', error: { message: e.error } }; note(m, `failed to start: ${e.error}`); break;
    case 'state': note(m, `state ${e.name}: ${fmt(e.bytes / MiB, 2)} MiB`); break;
    case 'verify': note(m, `verify ${e.image ?? ''}: ${e.ok ? 'ok' : `${e.mismatchedPages ?? '?'} pages differ`}`); break;
    default: m.phase = e.event; note(m, e.event + (e.reason ? `: ${e.reason}` : ''));
  }
  queueDraw();
}

/** The actual pause goes on the pause chart beside the estimates, where the workload came back. */
function onResumed(m, pauseMs) {
  m.pause[0].push(seconds(m));
  m.pause[1].push(null);
  m.pause[2].push(pauseMs);
  note(m, `resumed on the target: pause ${Math.round(pauseMs)} ms`);
}

function onSummary(m, summary) {
  if (!summary) return;
  m.result = summary;
  m.phase = summary.result;
  note(m, `${summary.result} after ${fmt(summary.totalMs / 1000)} s`);
}

/** GET /status, or the target's first /events message: the migrations that exist already. */
function onStatus(status) {
  role = status.role ?? role;
  document.getElementById('role').textContent = role;
  for (const s of status.migrations ?? []) {
    const m = migration(s.migrationId);
    if (s.phase) m.phase = s.phase;
    if (typeof s.pass === 'number') m.pass = s.pass;
    if (s.summary) onSummary(m, s.summary);
    if (s.error) m.result = { result: 'failed-to-start', error: { message: s.error } };
  }
  queueDraw();
}

function queueDraw() {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(() => {
    drawQueued = false;
    draw();
  });
}

function draw() {
  drawSessions();
  const m = migrations.get(chosen);
  if (!m) return;
  setChart('passes', m.passes);
  setChart('rates', m.rates);
  setChart('pause', m.pause);
  drawVerdict(m);
  drawResult(m);
  const list = document.getElementById('timeline');
  list.replaceChildren(...m.timeline.slice(-200).map((item) => {
    const li = document.createElement('li');
    li.textContent = `${fmt(item.at)} s  ${item.text}`;
    return li;
  }));
  list.scrollTop = list.scrollHeight;
}

function drawVerdict(m) {
  const verdict = document.getElementById('verdict');
  let state = 'waiting';
  let text = 'waiting for a pass to end';
  if (m.result) {
    state = 'done';
    text = `ended after ${m.passes[0].length} passes`;
  } else if (m.sendRate !== undefined && m.dirtyRate !== undefined) {
    const ratio = m.dirtyRate > 0 ? m.sendRate / m.dirtyRate : Infinity;
    state = ratio > 1 ? 'converging' : 'not-converging';
    text = ratio > 1
      ? `converging: sends ${Number.isFinite(ratio) ? `${fmt(ratio)}×` : 'far'} faster than the workload dirties`
      : `not converging: the workload dirties ${fmt(m.dirtyRate / 1e6)} MB/s, the link sends ${fmt(m.sendRate / 1e6)} MB/s (throttle ${m.throttle ?? 0}%)`;
  } else if (m.passes[1].length >= 2) {
    const [before, last] = m.passes[1].slice(-2);
    state = last < before ? 'converging' : 'not-converging';
    text = `${last < before ? 'converging' : 'not converging'}: ${before} then ${last} dirty pages`;
  }
  verdict.dataset.verdict = state;
  verdict.textContent = text;
}

function drawResult(m) {
  const box = document.getElementById('result');
  const r = m.result;
  box.dataset.result = r ? r.result : '';
  if (!r) {
    box.textContent = `running: ${m.phase}`;
    return;
  }
  const parts = [r.result];
  if (r.pauseMs !== undefined) parts.push(`pause ${r.pauseMs} ms${m.expectedAtPause !== undefined ? ` (expected ${Math.round(m.expectedAtPause)} ms)` : ''}`);
  if (r.passes !== undefined) parts.push(`${r.passes} passes`);
  if (r.bytesSent !== undefined) parts.push(`${fmt(r.bytesSent / MiB)} MiB sent in ${fmt(r.totalMs / 1000)} s`);
  if (r.error) parts.push(`${r.error.code ?? ''} ${r.error.message ?? ''}`.trim());
  box.textContent = parts.join(' · ');
}

function drawSessions() {
  const rows = [...migrations.values()].map((m) => {
    const tr = document.createElement('tr');
    for (const text of [m.id, m.result ? m.result.result : m.phase, String(m.pass), new Date(m.startedAt).toLocaleTimeString()]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  document.querySelector('#sessions tbody').replaceChildren(...rows);
}

const CHARTS = {
  passes: {
    scales: { x: { time: false }, pages: {}, mib: {} },
    series: [
      { label: 'pass' },
      { label: 'dirty pages', scale: 'pages', stroke: '#c0392b', fill: 'rgba(192,57,43,0.25)', paths: () => uPlot.paths.bars({ size: [0.5, 40] }) },
      { label: 'MiB sent', scale: 'mib', stroke: '#2c6fbb', width: 2 },
    ],
    axes: [{ label: 'pass' }, { scale: 'pages', label: 'pages' }, { scale: 'mib', side: 1, label: 'MiB', grid: { show: false } }],
  },
  rates: {
    scales: { x: { time: false }, rate: {}, pct: { range: [0, 100] } },
    series: [
      { label: 's' },
      { label: 'send MB/s', scale: 'rate', stroke: '#2c6fbb', width: 2 },
      { label: 'dirty MB/s', scale: 'rate', stroke: '#c0392b', width: 2 },
      { label: 'throttle %', scale: 'pct', stroke: '#8e44ad', dash: [5, 4] },
    ],
    axes: [{ label: 'seconds' }, { scale: 'rate', label: 'MB/s' }, { scale: 'pct', side: 1, label: '%', grid: { show: false } }],
  },
  pause: {
    scales: { x: { time: false } },
    series: [
      { label: 's' },
      { label: 'expected pause ms', stroke: '#d35400', width: 2, fill: 'rgba(211,84,0,0.12)' },
      { label: 'actual pause ms', stroke: '#1e8449', width: 0, points: { show: true, size: 12, fill: '#1e8449' } },
    ],
    axes: [{ label: 'seconds' }, { label: 'ms' }],
  },
};

function setChart(name, data) {
  const element = document.getElementById(name);
  const spec = CHARTS[name];
  if (!charts[name]) {
    const series = spec.series.map((s) => (typeof s.paths === 'function' ? { ...s, paths: s.paths() } : s));
    charts[name] = new uPlot({ width: Math.max(element.clientWidth, 320), height: 220, ...spec, series }, data, element);
  } else {
    charts[name].setData(data);
  }
  element.dataset.points = String(data[0].length);
}

function connect() {
  const link = document.getElementById('link');
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/events`);
  ws.onopen = () => { link.dataset.state = 'open'; link.textContent = 'live'; };
  ws.onmessage = (message) => onEvent(JSON.parse(message.data));
  ws.onclose = () => {
    link.dataset.state = 'closed';
    link.textContent = 'disconnected from /events: reload to reconnect';
  };
}

document.getElementById('migration').addEventListener('change', (event) => {
  userChose = true;
  choose(event.target.value);
});

fetch('/status', { cache: 'no-store' })
  .then((response) => (response.ok ? response.json() : Promise.reject(new Error(`GET /status: HTTP ${response.status}`))))
  .then(onStatus, (error) => { document.getElementById('link').textContent = error.message; })
  .finally(connect);
