// The status page's script: asks /api/status every `refreshMs` and draws the pipeline graph,
// the pull targets and the services; flame graphs are drawn by d3-flame-graph (global
// `flamegraph`, on the global `d3`) from the trees /api/flame computes, redrawn only when a
// newer profile arrived so that a zoom survives the refresh.

const SVG = 'http://www.w3.org/2000/svg';
const BAD_COUNTER = /refused|dropped|failed|failure|error|abandoned|aborted|corrupt|evicted|skipped/;

/** Flame graphs on the page, by `service\u0000type`: the profile generation drawn. */
const drawnFlames = new Map();

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) node.setAttribute(k, String(v));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatNumber(value) {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value.toLocaleString('en-US', { maximumSignificantDigits: 4 });
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
function formatValue(value, unit) {
  if (unit === 'By' || unit === 'bytes') {
    let v = value;
    let i = 0;
    while (Math.abs(v) >= 1024 && i < BYTE_UNITS.length - 1) (v /= 1024), i++;
    return `${formatNumber(Number(v.toFixed(i === 0 ? 0 : 1)))} ${BYTE_UNITS[i]}`;
  }
  if (unit === 'ns' || unit === 'nanoseconds') return formatDuration(value / 1e6);
  if (unit === 's') return formatDuration(value * 1000);
  const shown = unit && unit !== '1' ? ` ${unit.replace(/^\{(.*)\}$/, '$1')}` : '';
  return `${formatNumber(value)}${shown}`;
}

function formatDuration(ms) {
  const abs = Math.abs(ms);
  if (abs < 1) return `${formatNumber(Number((ms * 1000).toFixed(1)))} µs`;
  if (abs < 1000) return `${formatNumber(Number(ms.toFixed(1)))} ms`;
  if (abs < 120_000) return `${formatNumber(Number((ms / 1000).toFixed(1)))} s`;
  if (abs < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${formatNumber(Number((ms / 3_600_000).toFixed(1)))} h`;
}

function ago(nowMs, thenMs) {
  return `${formatDuration(Math.max(0, nowMs - thenMs))} ago`;
}

// ---- Pipeline graph -------------------------------------------------------------------------

const BOX_WIDTH = 250;
const COLUMN_GAP = 56;
const LINE = 15;

function componentBox(kind, id, rows) {
  const lines =
    rows.length === 0
      ? [{ text: 'no counts yet', bad: false }]
      : rows.map((r) => ({
          text: `${r.name}${r.by ? ` {${r.by}}` : ''}  ${formatNumber(r.value)}`,
          bad: BAD_COUNTER.test(`${r.name} ${r.by ?? ''}`) && r.value > 0,
        }));
  return { kind, id, lines, height: 44 + lines.length * LINE };
}

function drawPipeline(pipeline, counters) {
  const columns = [
    pipeline.receivers.map((id) => componentBox('receiver', id, counters[`receiver:${id}`] ?? [])),
    ...pipeline.processors.map((id) => [componentBox('processor', id, counters[`processor:${id}`] ?? [])]),
    pipeline.exporters.map((id) => componentBox('exporter', id, counters[`exporter:${id}`] ?? [])),
  ];
  const columnHeights = columns.map((boxes) => boxes.reduce((sum, b) => sum + b.height, 0) + (boxes.length - 1) * 16);
  const height = Math.max(...columnHeights) + 8;
  const width = columns.length * BOX_WIDTH + (columns.length - 1) * COLUMN_GAP + 8;
  const svg = svgEl('svg', {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `pipeline ${pipeline.name}: ${[pipeline.receivers.join(', '), pipeline.processors.join(' → '), pipeline.exporters.join(', ')].filter(Boolean).join(' → ')}`,
  });
  const defs = svgEl('defs');
  const marker = svgEl('marker', { id: 'arrowhead', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#5d6677' }));
  defs.append(marker);
  svg.append(defs);
  const placed = columns.map((boxes, c) => {
    let y = 4 + (height - 8 - columnHeights[c]) / 2;
    return boxes.map((box) => {
      const at = { ...box, x: 4 + c * (BOX_WIDTH + COLUMN_GAP), y };
      y += box.height + 16;
      return at;
    });
  });
  for (let c = 0; c + 1 < placed.length; c++) {
    for (const from of placed[c]) {
      for (const to of placed[c + 1]) {
        const x1 = from.x + BOX_WIDTH;
        const y1 = from.y + from.height / 2;
        const x2 = to.x;
        const y2 = to.y + to.height / 2;
        svg.append(svgEl('path', { class: 'arrow', d: `M ${x1} ${y1} C ${x1 + COLUMN_GAP / 2} ${y1}, ${x2 - COLUMN_GAP / 2} ${y2}, ${x2 - 1} ${y2}` }));
      }
    }
  }
  for (const box of placed.flat()) {
    const g = svgEl('g', { class: 'component', 'data-kind': box.kind, 'data-id': box.id, transform: `translate(${box.x},${box.y})` });
    g.append(svgEl('rect', { class: 'box', width: BOX_WIDTH, height: box.height, rx: 6 }));
    g.append(svgEl('text', { class: 'kind', x: 10, y: 16 }, box.kind));
    g.append(svgEl('text', { class: 'id', x: 10, y: 33 }, box.id));
    box.lines.forEach((line, i) => g.append(svgEl('text', { class: `counter${line.bad ? ' bad' : ''}`, x: 10, y: 52 + i * LINE }, line.text)));
    svg.append(g);
  }
  return svg;
}

function renderPipelines(status) {
  const host = document.getElementById('pipelines');
  host.replaceChildren(
    ...status.pipelines.map((pipeline) => {
      const pipelineRows = status.counters[`pipeline:${pipeline.name}`] ?? [];
      const totals = pipelineRows.map((r) => `${r.name}${r.by ? ` {${r.by}}` : ''} ${formatNumber(r.value)}`).join(' · ');
      return el(
        'div',
        { class: 'pipeline', 'data-pipeline': pipeline.name },
        el('p', { class: 'pipeline-title' }, `pipeline ${pipeline.name}${totals ? ` — ${totals}` : ''}`),
        drawPipeline(pipeline, status.counters),
      );
    }),
  );
}

// ---- Pull targets ---------------------------------------------------------------------------

function renderTargets(status) {
  const host = document.getElementById('targets');
  if (status.targets.length === 0) return host.replaceChildren(el('p', { class: 'empty' }, 'No pull receiver in the pipelines.'));
  const rows = status.targets.map((t) => {
    const last = t.lastRound;
    const backoff =
      t.consecutiveFailures > 0
        ? `backing off: ${t.consecutiveFailures} failed in a row${t.ticksToSkip > 0 ? `, skipping ${t.ticksToSkip} more ticks` : ''}`
        : 'no';
    return el(
      'tr',
      { 'data-target': t.target },
      el('td', {}, t.target),
      el('td', {}, t.service ?? ''),
      el('td', {}, t.receiver),
      el('td', { class: last ? `outcome-${last.outcome}` : 'empty' }, t.running ? 'running…' : last ? last.outcome : 'not yet'),
      el('td', { class: 'num' }, last ? formatDuration(last.durationMs) : ''),
      el('td', {}, last ? ago(status.nowMs, last.startedAtMs + last.durationMs) : ''),
      el('td', { class: t.consecutiveFailures > 0 ? 'backoff' : '' }, backoff),
      el(
        'td',
        {},
        t.nextAttemptMs === undefined ? 'by hand' : t.nextAttemptMs <= status.nowMs ? 'now' : `in ${formatDuration(t.nextAttemptMs - status.nowMs)}`,
      ),
    );
  });
  const head = el(
    'tr',
    {},
    ...['target', 'service', 'receiver', 'last round', 'took', 'ended', 'backoff', 'next attempt'].map((h) => el('th', { scope: 'col' }, h)),
  );
  host.replaceChildren(el('table', { 'aria-label': 'pull targets' }, el('thead', {}, head), el('tbody', {}, ...rows)));
}

// ---- Services -------------------------------------------------------------------------------

function sparkline(points, nowMs, historyMs) {
  const width = 180;
  const height = 28;
  const svg = svgEl('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', 'aria-hidden': 'true' });
  if (points.length === 0) return svg;
  const values = points.map((p) => p[1]);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const fromMs = Math.min(points[0][0], nowMs - historyMs);
  const x = (t) => ((t - fromMs) / Math.max(1, nowMs - fromMs)) * (width - 4) + 2;
  const y = (v) => (max === min ? height / 2 : height - 3 - ((v - min) / (max - min)) * (height - 6));
  const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${x(p[0]).toFixed(1)} ${y(p[1]).toFixed(1)}`).join(' ');
  svg.append(svgEl('path', { class: 'sparkline', d: points.length === 1 ? `M ${x(points[0][0]) - 2} ${y(points[0][1])} h 4` : path }));
  return svg;
}

/** A metric's name, with only the attributes that tell its series apart (the rest repeat the service's tags). */
function metricLabel(metric, siblings) {
  const varying = Object.entries(metric.attributes).filter(([k, v]) => siblings.some((s) => s !== metric && s.attributes[k] !== v));
  return varying.length ? `${metric.name} {${varying.map(([k, v]) => `${k}=${v}`).join(', ')}}` : metric.name;
}

function serviceCard(service, status) {
  const id = `service-${encodeURIComponent(service.service)}`;
  let card = document.getElementById(id);
  if (!card) {
    card = el('article', { class: 'service', id, 'data-service': service.service, 'aria-label': `service ${service.service}` });
    card.append(el('div', { class: 'service-head' }), el('div', { class: 'metrics' }), el('div', { class: 'flames' }));
  }
  const meta = [
    service.env && `env ${service.env}`,
    service.version && `version ${service.version}`,
    service.language,
    `from ${service.sources.join(', ')}`,
    `${formatNumber(service.bundles)} bundles`,
    `last seen ${ago(status.nowMs, service.lastSeenMs)}`,
  ]
    .filter(Boolean)
    .join(' · ');
  card.querySelector('.service-head').replaceChildren(el('h3', {}, service.service), el('span', { class: 'meta' }, meta));
  const metrics = card.querySelector('.metrics');
  if (service.metrics.length === 0) metrics.replaceChildren(el('p', { class: 'empty' }, 'No Go runtime metrics yet.'));
  else {
    const historyMs = status.historyMs ?? 3_600_000;
    const rows = service.metrics.map((m) =>
      el(
        'tr',
        { 'data-metric': m.name },
        el(
          'td',
          {},
          metricLabel(
            m,
            service.metrics.filter((s) => s.name === m.name),
          ),
        ),
        el('td', { class: 'num' }, formatValue(m.latest, m.unit)),
        el('td', {}, sparkline(m.points, status.nowMs, historyMs)),
      ),
    );
    const head = el('tr', {}, el('th', { scope: 'col' }, 'Go runtime metric'), el('th', { scope: 'col' }, 'latest'), el('th', { scope: 'col' }, 'last hour'));
    metrics.replaceChildren(el('table', { 'aria-label': `runtime metrics of ${service.service}` }, el('thead', {}, head), el('tbody', {}, ...rows)));
  }
  const flames = card.querySelector('.flames');
  for (const type of ['cpu', 'heap']) {
    const profile = service.profiles[type];
    let panel = flames.querySelector(`[data-type="${type}"]`);
    if (!panel) {
      panel = el(
        'div',
        { class: 'flame-panel', 'data-type': type },
        el('div', { class: 'flame-head' }),
        el('div', { class: 'flame', role: 'figure', 'aria-label': `${type} flame graph of ${service.service}` }),
      );
      flames.append(panel);
    }
    const head = panel.querySelector('.flame-head');
    const title = el('h4', {}, type === 'cpu' ? 'CPU flame graph' : 'Heap flame graph (in use)');
    if (!profile) {
      head.replaceChildren(title, el('span', { class: 'meta' }, `no ${type} profile yet`));
      continue;
    }
    const query = `service=${encodeURIComponent(service.service)}&type=${type}`;
    head.replaceChildren(
      title,
      el('span', { class: 'meta' }, `${profile.name} from ${profile.source}, window ending ${ago(status.nowMs, profile.windowEndMs)} · click a frame to zoom`),
      el('a', { href: `/download?${query}`, download: '' }, 'download .pprof'),
    );
    const key = `${service.service}\u0000${type}`;
    const container = panel.querySelector('.flame');
    if (drawnFlames.get(key) !== profile.generation) {
      // A zoomed graph stays as the person left it; a button offers the newer profile.
      if (container.dataset.zoomed === 'true') {
        head.append(el('button', { type: 'button', class: 'newer' }, 'show the newer profile'));
        head.querySelector('button.newer').addEventListener('click', () => {
          drawnFlames.set(key, profile.generation);
          void drawFlame(container, query);
        });
      } else {
        drawnFlames.set(key, profile.generation);
        void drawFlame(container, query);
      }
    }
  }
  return card;
}

async function drawFlame(container, query) {
  const response = await fetch(`/api/flame?${query}`);
  if (!response.ok) {
    container.replaceChildren(el('p', { class: 'empty' }, `flame graph unavailable: ${(await response.json()).error}`));
    return;
  }
  const tree = await response.json();
  const width = Math.max(400, container.clientWidth || document.body.clientWidth - 80);
  const chart = flamegraph
    .default()
    .width(width)
    .cellHeight(18)
    .minFrameSize(1)
    .transitionDuration(300)
    .sort(true)
    .title('')
    .label((d) => `${d.data.name}: ${formatValue(d.data.value, tree.unit)} (${(100 * (d.x1 - d.x0) || 0).toFixed(1)}%)`)
    .onClick((d) => {
      container.dataset.zoomed = String(d.depth > 0);
    });
  container.replaceChildren();
  container.dataset.zoomed = 'false';
  container.dataset.frames = String(tree.keptNodes);
  container.dataset.sampleType = tree.sampleType;
  d3.select(container).datum(tree.root).call(chart);
}

function renderServices(status) {
  const host = document.getElementById('services');
  if (status.services.length === 0)
    return host.replaceChildren(el('p', { class: 'empty' }, 'No service seen yet: send a dd-trace upload or wait for a pull round.'));
  const cards = status.services.map((service) => serviceCard(service, status));
  // Keep the cards (and their drawn flame graphs) across refreshes; drop the ones forgotten.
  for (const child of [...host.children])
    if (!cards.includes(child)) child.remove(), drawnFlames.forEach((_, k) => k.startsWith(`${child.dataset.service}\u0000`) && drawnFlames.delete(k));
  cards.forEach((card, i) => {
    if (host.children[i] !== card) host.insertBefore(card, host.children[i] ?? null);
  });
}

function renderServiceCounters(status) {
  const rows = status.counters.service ?? [];
  const host = document.getElementById('service-counters');
  host.replaceChildren(
    ...(rows.length
      ? [el('p', { class: 'meta' }, `collector: ${rows.map((r) => `${r.name}${r.by ? ` {${r.by}}` : ''} ${formatNumber(r.value)}`).join(' · ')}`)]
      : []),
  );
}

// ---- Refresh loop ---------------------------------------------------------------------------

let refreshMs = 2000;

async function refresh() {
  const freshness = document.getElementById('freshness');
  try {
    const response = await fetch('/api/status', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    refreshMs = status.refreshMs;
    renderPipelines(status);
    renderServiceCounters(status);
    renderTargets(status);
    renderServices(status);
    freshness.textContent = `up ${formatDuration(status.nowMs - status.startedAtMs)} · updated ${new Date(status.nowMs).toLocaleTimeString()} · every ${formatDuration(refreshMs)}`;
    document.body.dataset.updatedAt = String(status.nowMs);
  } catch (error) {
    freshness.textContent = `cannot reach profcol (${error.message}); retrying every ${formatDuration(refreshMs)}`;
  } finally {
    setTimeout(refresh, refreshMs);
  }
}

void refresh();
