/**
 * The throughput chart of docs/BENCHMARKS.md, drawn from the measured figures: one panel per
 * checkpoint store, messages/s (log scale, shared by the panels) against prefetch, the runtime and
 * the raw amqplib loop side by side. Plain SVG, no dependency.
 */

export interface ChartSeries {
  readonly label: string;
  /** [prefetch, msg/s] */
  readonly points: ReadonlyArray<readonly [number, number]>;
  readonly color: string;
  readonly dashed?: boolean;
}

export interface ChartPanel {
  readonly title: string;
  readonly series: readonly ChartSeries[];
}

const PANEL_W = 300;
const MARGIN = { left: 56, right: 16, top: 56, bottom: 70 };
const PLOT_W = PANEL_W - 44;
const PLOT_H = 220;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Powers of ten (and 2×, 5×) spanning [min, max]. */
function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

export function throughputChart(title: string, panels: readonly ChartPanel[]): string {
  const values = panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([, y]) => y)));
  const prefetches = [
    ...new Set(panels.flatMap((p) => p.series.flatMap((s) => s.points.map(([x]) => x)))),
  ].sort((a, b) => a - b);
  const yMin = 10 ** Math.floor(Math.log10(Math.max(Math.min(...values), 1e-3)));
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const width = MARGIN.left + panels.length * PANEL_W + MARGIN.right;
  const height = MARGIN.top + PLOT_H + MARGIN.bottom;
  const y = (v: number) =>
    MARGIN.top +
    PLOT_H -
    ((Math.log10(v) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * PLOT_H;
  // Prefetch on a log axis too: 1, 2, 5, 10 spread evenly enough.
  const xMin = Math.log10(prefetches[0]);
  const xMax = Math.log10(prefetches[prefetches.length - 1]);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
  );
  panels.forEach((panel, i) => {
    const left = MARGIN.left + i * PANEL_W;
    const x = (v: number) =>
      left + (xMax === xMin ? PLOT_W / 2 : ((Math.log10(v) - xMin) / (xMax - xMin)) * PLOT_W);
    out.push(
      `<text x="${left + PLOT_W / 2}" y="${MARGIN.top - 12}" text-anchor="middle" font-weight="bold">${escapeXml(panel.title)}</text>`,
      `<rect x="${left}" y="${MARGIN.top}" width="${PLOT_W}" height="${PLOT_H}" fill="none" stroke="#888"/>`,
    );
    for (const t of logTicks(yMin, yMax)) {
      out.push(
        `<line x1="${left}" x2="${left + PLOT_W}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e4e4e4"/>`,
      );
      if (i === 0) {
        out.push(
          `<text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${t >= 1 ? t : t.toPrecision(1)}</text>`,
        );
      }
    }
    for (const p of prefetches) {
      out.push(
        `<line x1="${x(p).toFixed(1)}" x2="${x(p).toFixed(1)}" y1="${MARGIN.top + PLOT_H}" y2="${MARGIN.top + PLOT_H + 4}" stroke="#888"/>`,
        `<text x="${x(p).toFixed(1)}" y="${MARGIN.top + PLOT_H + 17}" text-anchor="middle">${p}</text>`,
      );
    }
    out.push(
      `<text x="${left + PLOT_W / 2}" y="${MARGIN.top + PLOT_H + 33}" text-anchor="middle">prefetch (AGENT_CONCURRENCY)</text>`,
    );
    for (const s of panel.series) {
      const path = s.points.map(([px, py]) => `${x(px).toFixed(1)},${y(py).toFixed(1)}`).join(' ');
      out.push(
        `<polyline points="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      );
      for (const [px, py] of s.points) {
        out.push(
          `<circle cx="${x(px).toFixed(1)}" cy="${y(py).toFixed(1)}" r="3" fill="${s.color}"><title>${escapeXml(`${s.label}, prefetch ${px}: ${py.toFixed(0)} msg/s`)}</title></circle>`,
        );
      }
    }
  });
  out.push(
    `<text transform="translate(16 ${MARGIN.top + PLOT_H / 2}) rotate(-90)" text-anchor="middle">messages / s (log scale)</text>`,
  );
  // One legend for all panels: the series labels of the first panel.
  const legendY = MARGIN.top + PLOT_H + 54;
  (panels[0]?.series ?? []).forEach((s, i) => {
    const lx = MARGIN.left + i * 320;
    out.push(
      `<line x1="${lx}" x2="${lx + 28}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 34}" y="${legendY + 4}">${escapeXml(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
