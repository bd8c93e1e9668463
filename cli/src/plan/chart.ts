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
const HEIGHT = 420;
const M = { left: 64, right: 64, top: 48, bottom: 56 };

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
}

/** Renders the SVG (a complete document with an XML declaration). */
export function renderSvg(result: PlanResult, options: ChartOptions): string {
  const samples = thin(result.samples, 600);
  const endTime = Math.max(1, result.endTime);
  const plotW = WIDTH - M.left - M.right;
  const plotH = HEIGHT - M.top - M.bottom;
  const q = niceScale(Math.max(1, ...samples.map((s) => s.ready + s.unacked)));
  const j = niceScale(Math.max(1, ...samples.map((s) => s.runningPods + s.pendingJobs)));
  const t = niceScale(endTime, 8);
  const x = (time: number) => M.left + (time / t.max) * plotW;
  const yq = (v: number) => M.top + plotH - (v / q.max) * plotH;
  const yj = (v: number) => M.top + plotH - (v / j.max) * plotH;
  const path = (pts: Array<[number, number]>) => {
    const coords = pts.map(([px, py]) => `${px.toFixed(1)},${py.toFixed(1)}`);
    // Drop repeated points (a value that holds across samples) but keep the last one.
    const kept = coords.filter((c, i) => i === 0 || i === coords.length - 1 || c !== coords[i - 1]);
    return kept.map((c, i) => `${i === 0 ? 'M' : 'L'}${c}`).join(' ');
  };
  // Step lines: the value holds until the next sample.
  const steps = (value: (s: Sample) => number, y: (v: number) => number): string => {
    const pts: Array<[number, number]> = [];
    samples.forEach((s, i) => {
      if (i > 0) {
        pts.push([x(s.time), y(value(samples[i - 1]!))]);
      }
      pts.push([x(s.time), y(value(s))]);
    });
    return path(pts);
  };

  const parts: string[] = [];
  parts.push('<?xml version="1.0" encoding="UTF-8"?>');
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="title desc" font-family="sans-serif" font-size="12">`,
  );
  parts.push(`<title id="title">${escapeXml(options.title)}</title>`);
  parts.push(
    `<desc id="desc">${escapeXml(
      `Queue depth (messages) and Jobs over ${endTime} s; ${result.totalTasks} tasks; peak ${result.peakJobs} Jobs.`,
    )}</desc>`,
  );
  parts.push(`<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  );
  // Grid and axes.
  parts.push('<g stroke="#dddddd" stroke-width="1">');
  for (let v = 0; v <= q.max; v += q.step) {
    parts.push(
      `<line x1="${M.left}" y1="${yq(v).toFixed(1)}" x2="${WIDTH - M.right}" y2="${yq(v).toFixed(1)}"/>`,
    );
  }
  parts.push('</g>');
  parts.push('<g fill="#1f77b4" text-anchor="end">');
  for (let v = 0; v <= q.max; v += q.step) {
    parts.push(`<text x="${M.left - 6}" y="${(yq(v) + 4).toFixed(1)}">${fmt(v)}</text>`);
  }
  parts.push('</g>');
  parts.push('<g fill="#d62728" text-anchor="start">');
  for (let v = 0; v <= j.max; v += j.step) {
    parts.push(`<text x="${WIDTH - M.right + 6}" y="${(yj(v) + 4).toFixed(1)}">${fmt(v)}</text>`);
  }
  parts.push('</g>');
  parts.push('<g fill="#333333" text-anchor="middle">');
  for (let v = 0; v <= t.max; v += t.step) {
    parts.push(`<text x="${x(v).toFixed(1)}" y="${HEIGHT - M.bottom + 18}">${fmt(v)}</text>`);
  }
  parts.push('</g>');
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333333" stroke-width="1"/>`,
  );
  parts.push(
    `<text x="${WIDTH / 2}" y="${HEIGHT - 14}" text-anchor="middle" fill="#333333">time (s)</text>`,
    `<text x="16" y="${M.top + plotH / 2}" text-anchor="middle" fill="#1f77b4" transform="rotate(-90 16 ${M.top + plotH / 2})">messages in queue</text>`,
    `<text x="${WIDTH - 16}" y="${M.top + plotH / 2}" text-anchor="middle" fill="#d62728" transform="rotate(90 ${WIDTH - 16} ${M.top + plotH / 2})">Jobs</text>`,
  );
  // Poll markers.
  parts.push('<g stroke="#999999" stroke-width="1" stroke-dasharray="2 4">');
  for (const poll of result.polls.filter((p) => p.created > 0)) {
    parts.push(
      `<line x1="${x(poll.time).toFixed(1)}" y1="${M.top}" x2="${x(poll.time).toFixed(1)}" y2="${M.top + plotH}"/>`,
    );
  }
  parts.push('</g>');
  // Series.
  parts.push(
    `<path id="queue-depth" d="${steps((s) => s.ready + s.unacked, yq)}" fill="none" stroke="#1f77b4" stroke-width="2"/>`,
    `<path id="ready" d="${steps((s) => s.ready, yq)}" fill="none" stroke="#1f77b4" stroke-width="1" stroke-dasharray="5 3"/>`,
    `<path id="running-jobs" d="${steps((s) => s.runningPods, yj)}" fill="none" stroke="#d62728" stroke-width="2"/>`,
    `<path id="all-jobs" d="${steps((s) => s.runningPods + s.pendingJobs, yj)}" fill="none" stroke="#d62728" stroke-width="1" stroke-dasharray="5 3"/>`,
  );
  // Legend.
  const legend: Array<[string, string, boolean]> = [
    ['queue depth (ready + unacked)', '#1f77b4', false],
    ['ready messages', '#1f77b4', true],
    ['running Jobs (pods)', '#d62728', false],
    ['Jobs incl. starting', '#d62728', true],
  ];
  parts.push('<g>');
  legend.forEach(([label, color, dashed], i) => {
    const lx = M.left + 10 + i * 200;
    const ly = M.top - 12;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${color}" stroke-width="2"${dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      `<text x="${lx + 30}" y="${ly + 4}">${escapeXml(label)}</text>`,
    );
  });
  parts.push('</g>');
  if (result.drainedAt !== undefined) {
    const dx = x(result.drainedAt).toFixed(1);
    parts.push(
      `<line x1="${dx}" y1="${M.top}" x2="${dx}" y2="${M.top + plotH}" stroke="#2ca02c" stroke-width="1.5"/>`,
      `<text x="${dx}" y="${M.top + 14}" fill="#2ca02c" text-anchor="end">${escapeXml(`drained at ${result.drainedAt} s `)}</text>`,
    );
  } else {
    parts.push(
      `<text x="${WIDTH - M.right - 6}" y="${M.top + 14}" fill="#d62728" text-anchor="end">${escapeXml('not drained within the horizon')}</text>`,
    );
  }
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
    `<figure>${inline}<figcaption>Queue depth drives the Job count: messages in the queue (blue, left axis) and Jobs (red, right axis) over time.</figcaption></figure>`,
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
