/**
 * The `plan` picture: queue depth against running Jobs over time, as a standalone SVG, and an HTML page
 * embedding it with the summary. Plain strings, no dependencies; every text node is escaped.
 */
import type { PlanResult, Sample } from './simulate';

export function escapeXml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const WIDTH = 900;
const FONT_SIZE = 12;
/** The plot keeps this box whatever the legend needs; the canvas grows downwards for legend rows. */
const M = { left: 64, right: 28, top: 48 };
const PLOT_H = 300;

const QUEUE = '#1f77b4';
const JOBS = '#d62728';
const MAX_REPLICAS = '#7b3294';
const POLL = '#777777';
const DRAINED = '#2ca02c';
const AXIS = '#333333';
/** The token-budget gate's closed spans: a light band behind the lines, so they stay readable. */
const GATE = { fill: '#f4a582', opacity: '0.35' } as const;

/**
 * An upper estimate of the rendered width, in px, of `text` in the chart's sans-serif font at `fontSize`.
 * Per-character widths in em, rounded up from DejaVu Sans (the usual `sans-serif` on Linux, and wider than
 * Helvetica/Arial), so a label measured here does not spill out of the box laid out for it.
 */
export function estimateTextWidth(text: string, fontSize = FONT_SIZE): number {
  let em = 0;
  for (const c of text) {
    if ('mwMW@%'.includes(c)) {
      em += 1;
    } else if (" ijlI.,:;'|!()[]/".includes(c)) {
      em += 0.4;
    } else if (/[A-Z]/.test(c)) {
      em += 0.8;
    } else if (/[0-9a-z]/.test(c)) {
      em += 0.66;
    } else {
      // Anything else (punctuation, non-Latin, emoji): assume a full em.
      em += 1;
    }
  }
  return Math.ceil(em * fontSize);
}

/** One legend entry's box, relative to the legend's top-left corner. */
export interface LegendBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Legend geometry: a swatch, a gap, the label, then padding before the next entry. */
export const LEGEND = { swatch: 24, gap: 6, padding: 18, rowHeight: 20 } as const;

/**
 * Flows legend entries left to right, wrapping to a new row when the next entry's measured width would
 * pass `maxWidth`. Boxes never overlap: each starts where the previous one (including its label) ends,
 * and an entry wider than `maxWidth` gets a row of its own.
 */
export function layoutLegend(labels: readonly string[], maxWidth: number): LegendBox[] {
  const boxes: LegendBox[] = [];
  let x = 0;
  let y = 0;
  for (const label of labels) {
    const width = LEGEND.swatch + LEGEND.gap + estimateTextWidth(label) + LEGEND.padding;
    if (x > 0 && x + width > maxWidth) {
      x = 0;
      y += LEGEND.rowHeight;
    }
    boxes.push({ x, y, width, height: LEGEND.rowHeight });
    x += width;
  }
  return boxes;
}

/** A "nice" axis maximum and tick step (1, 2 or 5 times a power of ten). */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) {
    return { max: 1, step: 1 };
  }
  const raw = max / ticks;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((f) => f * pow).find((s) => s >= raw)!;
  const stepInt = Math.max(1, step);
  return { max: Math.ceil(max / stepInt) * stepInt, step: stepInt };
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** Thins samples to at most `limit` points, keeping each bucket's extremes so peaks survive. */
function thin(samples: readonly Sample[], limit: number): Sample[] {
  if (samples.length <= limit) {
    return [...samples];
  }
  const out: Sample[] = [];
  const bucket = Math.ceil(samples.length / limit);
  for (let i = 0; i < samples.length; i += bucket) {
    const slice = samples.slice(i, i + bucket);
    out.push(slice.reduce((a, b) => (b.ready + b.runningPods > a.ready + a.runningPods ? b : a)));
  }
  const last = samples[samples.length - 1]!;
  if (out[out.length - 1] !== last) {
    out.push(last);
  }
  return out;
}

export interface ChartOptions {
  readonly title: string;
  /**
   * The ScaledJob's `maxReplicaCount`, drawn as a horizontal line (the ceiling the Jobs line can reach).
   * @default - not drawn
   */
  readonly maxReplicaCount?: number;
}

/** One legend entry: how its swatch is drawn, and the words. */
interface LegendEntry {
  readonly id: string;
  readonly label: string;
  readonly swatch: (x: number, y: number) => string;
}

const lineSwatch =
  (color: string, width: number, dash?: string) =>
  (x: number, y: number): string =>
    `<line x1="${x}" y1="${y}" x2="${x + LEGEND.swatch}" y2="${y}" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;

/**
 * The spans, in seconds, during which the token-budget gate was closed: from each poll that found it
 * closed to the next poll (or the end), adjoining spans merged.
 */
export function closedSpans(result: PlanResult): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  result.polls.forEach((p, i) => {
    if (!p.gateClosed) {
      return;
    }
    const to = Math.min(result.polls[i + 1]?.time ?? result.endTime, result.endTime);
    const last = spans[spans.length - 1];
    if (last && last[1] >= p.time) {
      last[1] = Math.max(last[1], to);
    } else if (to > p.time) {
      spans.push([p.time, to]);
    }
  });
  return spans;
}

/** Renders the SVG (a complete document with an XML declaration). */
export function renderSvg(result: PlanResult, options: ChartOptions): string {
  const samples = thin(result.samples, 600);
  const endTime = Math.max(1, result.endTime);
  const plotW = WIDTH - M.left - M.right;
  const plotBottom = M.top + PLOT_H;
  const maxRc = options.maxReplicaCount;
  // One y scale for everything. Queue depth (messages) and Jobs are both counts, so on a shared scale the
  // lines compare directly: with one task per Job at a time, Jobs above the queue depth are idle Jobs
  // (over-provisioning), and a Job running c tasks at once holds c messages of the blue line; ready
  // messages above the Jobs line while no Jobs are created is the stall. Two axes with different scales
  // would hide both, which is also why the token rate is not drawn: only when the gate was closed.
  const dataMax = Math.max(
    1,
    ...samples.map((s) => Math.max(s.ready + s.unacked, s.runningPods + s.pendingJobs)),
  );
  // maxReplicaCount joins the scale when it is near the data; far above it (500 against a peak of 40)
  // it would flatten every line, so it is then noted at the top edge instead.
  const maxRcOnScale = maxRc !== undefined && maxRc <= 2 * dataMax;
  const yScale = niceScale(maxRcOnScale ? Math.max(dataMax, maxRc) : dataMax);
  const t = niceScale(endTime, 8);
  const x = (time: number) => M.left + (time / t.max) * plotW;
  const y = (v: number) => plotBottom - (v / yScale.max) * PLOT_H;
  const path = (pts: Array<[number, number]>) => {
    const coords = pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`);
    // Drop repeated points (a value that holds across samples) but keep the last one.
    const kept = coords.filter((c, i) => i === 0 || i === coords.length - 1 || c !== coords[i - 1]);
    return kept.map((c, i) => `${i === 0 ? 'M' : 'L'}${c}`).join(' ');
  };
  // Step lines: the value holds until the next sample.
  const steps = (value: (s: Sample) => number): string => {
    const pts: Array<[number, number]> = [];
    samples.forEach((s, i) => {
      if (i > 0) {
        pts.push([x(s.time), y(value(samples[i - 1]!))]);
      }
      pts.push([x(s.time), y(value(s))]);
    });
    return path(pts);
  };
  /** Distinct pixel columns, in order: thousands of polls over a long horizon draw one mark per column. */
  const columns = (times: number[]): string[] => [...new Set(times.map((time) => x(time).toFixed(1)))];
  const createdAt = columns(result.polls.filter((p) => p.created > 0).map((p) => p.time));
  // Spans that meet on screen become one band: a gate flapping over days draws one rect per pixel run.
  const gateBands: Array<[number, number]> = [];
  for (const [from, to] of closedSpans(result)) {
    const last = gateBands[gateBands.length - 1];
    if (last && x(from) - last[1] < 0.5) {
      last[1] = x(to);
    } else {
      gateBands.push([x(from), x(to)]);
    }
  }

  const legend: LegendEntry[] = [
    { id: 'queue-depth', label: 'queue depth: ready + unacked messages', swatch: lineSwatch(QUEUE, 2) },
    { id: 'ready', label: 'ready messages', swatch: lineSwatch(QUEUE, 1.5, '5 3') },
    { id: 'running-jobs', label: 'running Jobs (pods started)', swatch: lineSwatch(JOBS, 2) },
    { id: 'all-jobs', label: 'Jobs incl. starting', swatch: lineSwatch(JOBS, 1.5, '5 3') },
  ];
  if (maxRc !== undefined) {
    legend.push({
      id: 'max-replica-count',
      label: `maxReplicaCount ${maxRc}${maxRcOnScale ? '' : ' (above this scale)'}`,
      swatch: lineSwatch(MAX_REPLICAS, 1.5, '8 3 2 3'),
    });
  }
  legend.push({
    id: 'poll-created',
    label: 'KEDA poll that created Jobs',
    swatch: (sx, sy) =>
      `<line x1="${sx + 12}" y1="${sy - 7}" x2="${sx + 12}" y2="${sy + 7}" stroke="${POLL}" stroke-width="1" stroke-dasharray="2 2"/>`,
  });
  const gate = result.tokenBudget;
  if (gate) {
    legend.push({
      id: 'token-gate-closed',
      label: `token-budget gate closed (${fmt(gate.budgetPerMinute)} tokens/min${gate.closedPolls === 0 ? ', never' : ''})`,
      swatch: (sx, sy) =>
        `<rect x="${sx}" y="${sy - 7}" width="${LEGEND.swatch}" height="14" fill="${GATE.fill}" fill-opacity="${GATE.opacity}"/>`,
    });
  }
  const legendTop = plotBottom + 58;
  const boxes = layoutLegend(
    legend.map((e) => e.label),
    plotW,
  );
  const legendRows = boxes.length === 0 ? 0 : boxes[boxes.length - 1]!.y / LEGEND.rowHeight + 1;
  const height = legendTop + legendRows * LEGEND.rowHeight + 8;

  const parts: string[] = [];
  parts.push('<?xml version="1.0" encoding="UTF-8"?>');
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="${FONT_SIZE}">`,
  );
  parts.push(`<title id="title">${escapeXml(options.title)}</title>`);
  parts.push(
    `<desc id="desc">${escapeXml(
      `Queue depth (messages) and Jobs on one count scale over ${endTime} s; ${result.totalTasks} tasks; peak ${result.peakJobs} Jobs.${gate ? ` Shaded: the token-budget gate closed (${gate.closedSeconds} s).` : ''}`,
    )}</desc>`,
  );
  parts.push(`<rect x="0" y="0" width="${WIDTH}" height="${height}" fill="#ffffff"/>`);
  // A title too long for the canvas gets a smaller font (down to 10 px), then is cut with an ellipsis;
  // the <title> element above keeps it whole.
  const titleRoom = WIDTH - 20;
  const titleSize = Math.max(
    10,
    Math.min(15, Math.floor((15 * titleRoom) / estimateTextWidth(options.title, 15))),
  );
  let shownTitle = options.title;
  while (estimateTextWidth(shownTitle, titleSize) > titleRoom) {
    shownTitle = `${[...shownTitle].slice(0, -2).join('')}…`;
  }
  parts.push(
    `<text id="chart-title" x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="${titleSize}">${escapeXml(shownTitle)}</text>`,
  );
  // Grid and the one y axis.
  parts.push('<g stroke="#e3e3e3" stroke-width="1">');
  for (let v = 0; v <= yScale.max; v += yScale.step) {
    parts.push(
      `<line x1="${M.left}" y1="${y(v).toFixed(1)}" x2="${WIDTH - M.right}" y2="${y(v).toFixed(1)}"/>`,
    );
  }
  parts.push('</g>');
  parts.push(`<g id="y-axis" fill="${AXIS}" text-anchor="end">`);
  for (let v = 0; v <= yScale.max; v += yScale.step) {
    parts.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}">${fmt(v)}</text>`);
  }
  parts.push('</g>');
  parts.push(`<g id="x-axis" fill="${AXIS}" text-anchor="middle">`);
  for (let v = 0; v <= t.max; v += t.step) {
    parts.push(`<text x="${x(v).toFixed(1)}" y="${plotBottom + 18}">${fmt(v)}</text>`);
  }
  parts.push('</g>');
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${PLOT_H}" fill="none" stroke="${AXIS}" stroke-width="1"/>`,
  );
  const mid = M.top + PLOT_H / 2;
  parts.push(
    `<text id="x-axis-title" x="${M.left + plotW / 2}" y="${plotBottom + 38}" text-anchor="middle" fill="${AXIS}">time (s)</text>`,
    `<text id="y-axis-title" x="18" y="${mid}" text-anchor="middle" fill="${AXIS}" transform="rotate(-90 18 ${mid})">count: messages (blue), Jobs (red)</text>`,
  );
  // The gate's closed spans, under everything else drawn in the plot.
  if (gate) {
    parts.push(`<g id="token-gate-closed" fill="${GATE.fill}" fill-opacity="${GATE.opacity}">`);
    for (const [from, to] of gateBands) {
      parts.push(
        `<rect x="${from.toFixed(1)}" y="${M.top}" width="${(to - from).toFixed(1)}" height="${PLOT_H}"/>`,
      );
    }
    parts.push('</g>');
  }
  // Poll markers: the polls where KEDA created Jobs.
  parts.push(`<g id="poll-created-marks" stroke="${POLL}" stroke-width="1" stroke-dasharray="2 4">`);
  for (const px of createdAt) {
    parts.push(`<line x1="${px}" y1="${M.top}" x2="${px}" y2="${plotBottom}"/>`);
  }
  parts.push('</g>');
  // maxReplicaCount: a line on the scale, or a note at the top edge when far above it.
  if (maxRc !== undefined) {
    if (maxRcOnScale) {
      const my = y(maxRc);
      const labelY = my - M.top < 30 ? my + 14 : my - 5;
      parts.push(
        `<line id="max-replica-count" x1="${M.left}" y1="${my.toFixed(1)}" x2="${WIDTH - M.right}" y2="${my.toFixed(1)}" stroke="${MAX_REPLICAS}" stroke-width="1.5" stroke-dasharray="8 3 2 3"/>`,
        `<text x="${M.left + 6}" y="${labelY.toFixed(1)}" fill="${MAX_REPLICAS}">${escapeXml(`maxReplicaCount ${maxRc}`)}</text>`,
      );
    } else {
      parts.push(
        `<line x1="${M.left + 6}" y1="${M.top + 10}" x2="${M.left + 6 + LEGEND.swatch}" y2="${M.top + 10}" stroke="${MAX_REPLICAS}" stroke-width="1.5" stroke-dasharray="8 3 2 3"/>`,
        `<text id="max-replica-count" x="${M.left + 12 + LEGEND.swatch}" y="${M.top + 14}" fill="${MAX_REPLICAS}">${escapeXml(`maxReplicaCount ${maxRc}: above this scale`)}</text>`,
      );
    }
  }
  // Series.
  parts.push(
    `<path id="all-jobs" d="${steps((s) => s.runningPods + s.pendingJobs)}" fill="none" stroke="${JOBS}" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    `<path id="ready" d="${steps((s) => s.ready)}" fill="none" stroke="${QUEUE}" stroke-width="1.5" stroke-dasharray="5 3"/>`,
    `<path id="queue-depth" d="${steps((s) => s.ready + s.unacked)}" fill="none" stroke="${QUEUE}" stroke-width="2"/>`,
    `<path id="running-jobs" d="${steps((s) => s.runningPods)}" fill="none" stroke="${JOBS}" stroke-width="2"/>`,
  );
  if (result.drainedAt !== undefined) {
    const dx = x(result.drainedAt);
    // The label sits left of the line, or right of it when the line is too close to the left edge.
    const label = `drained at ${result.drainedAt} s`;
    const left = dx - M.left > estimateTextWidth(label) + 8;
    parts.push(
      `<line x1="${dx.toFixed(1)}" y1="${M.top}" x2="${dx.toFixed(1)}" y2="${plotBottom}" stroke="${DRAINED}" stroke-width="1.5"/>`,
      `<text x="${(left ? dx - 4 : dx + 4).toFixed(1)}" y="${M.top + 30}" fill="${DRAINED}" text-anchor="${left ? 'end' : 'start'}">${escapeXml(label)}</text>`,
    );
  } else {
    parts.push(
      `<text x="${WIDTH - M.right - 6}" y="${M.top + 30}" fill="${JOBS}" text-anchor="end">${escapeXml('not drained within the horizon')}</text>`,
    );
  }
  // Legend, below the plot, laid out from measured label widths (layoutLegend).
  parts.push('<g id="legend">');
  legend.forEach((entry, i) => {
    const box = boxes[i]!;
    const bx = M.left + box.x;
    const by = legendTop + box.y;
    const cy = by + box.height / 2;
    parts.push(
      `<g class="legend-entry" data-series="${entry.id}">`,
      `<rect class="legend-box" x="${bx}" y="${by}" width="${box.width}" height="${box.height}" fill="none"/>`,
      entry.swatch(bx, cy),
      `<text x="${bx + LEGEND.swatch + LEGEND.gap}" y="${cy + 4}" fill="${AXIS}">${escapeXml(entry.label)}</text>`,
      '</g>',
    );
  });
  parts.push('</g>');
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/** An HTML page embedding the SVG inline, with the summary lines and the poll table. */
export function renderHtml(
  svg: string,
  title: string,
  summary: readonly string[],
  table: readonly string[][],
): string {
  const inline = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
  const [head, ...rows] = table;
  const cells = (row: readonly string[], tag: 'th' | 'td') =>
    `<tr>${row.map((c) => `<${tag}>${escapeXml(c)}</${tag}>`).join('')}</tr>`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeXml(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em;max-width:960px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style>',
    '</head>',
    '<body>',
    `<h1>${escapeXml(title)}</h1>`,
    `<figure>${inline}<figcaption>Queue depth drives the Job count: messages in the queue (blue) and Jobs (red) over time, on one count scale.</figcaption></figure>`,
    '<ul>',
    ...summary.map((line) => `<li>${escapeXml(line)}</li>`),
    '</ul>',
    '<h2>KEDA polls</h2>',
    '<table>',
    head ? cells(head, 'th') : '',
    ...rows.map((r) => cells(r, 'td')),
    '</table>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}
