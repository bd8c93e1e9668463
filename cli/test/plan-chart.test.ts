import { MultipleScalersCalculation, RabbitMqProtocol, ScalingStrategy } from '@agent-fleet/cdk8s';
import * as fc from 'fast-check';
import {
  closedSpans,
  estimateTextWidth,
  LEGEND,
  layoutLegend,
  renderHtml,
  renderSvg,
} from '../src/plan/chart';
import { type PlanInput, simulatePlan } from '../src/plan/simulate';
import { allElements, parseXml, type XmlElement } from './support/xml';

/** A small scenario: `count` tasks at once, one per Job, Jobs capped at `max`. */
function input(count: number, max: number, strategy = ScalingStrategy.accurate()): PlanInput {
  return {
    scaledJob: {
      value: 1,
      maxReplicaCount: max,
      pollingInterval: 10,
      scalingStrategy: strategy,
      protocol: RabbitMqProtocol.AMQP,
    },
    maxTasks: 1,
    idleExitSeconds: 30,
    startupSeconds: 5,
    arrivals: { kind: 'burst', count },
    taskDuration: { kind: 'fixed', seconds: 20 },
    seed: 1,
    horizonSeconds: 600,
  };
}

/**
 * Tasks arriving 30/min for 20 min, 5 per Job at once, 20000 tokens each, under a token budget of
 * 300000 tokens/min: the gate closes and opens several times.
 */
function gated(budgetPerMinute = 300_000): PlanInput {
  return {
    scaledJob: {
      value: 5,
      pollingInterval: 30,
      scalingStrategy: ScalingStrategy.accurate(),
      multipleScalersCalculation: MultipleScalersCalculation.MIN,
      protocol: RabbitMqProtocol.AMQP,
    },
    maxTasks: 5,
    concurrency: 5,
    idleExitSeconds: 30,
    startupSeconds: 20,
    pendingPodConditions: ['Ready'],
    arrivals: { kind: 'rate', perMinute: 30, durationSeconds: 1200 },
    taskDuration: { kind: 'uniform', min: 60, max: 180 },
    seed: 1,
    horizonSeconds: 3600,
    tokenBudget: { budgetPerMinute, windowSeconds: 120, tokensPerTask: 20_000 },
  };
}

interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

const overlaps = (a: Box, b: Box) =>
  a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

const num = (e: XmlElement, name: string) => Number(e.attributes[name]);

/** The legend entries as emitted: series id, label, box (from the legend-box rect) and the label's x. */
function legendOf(root: XmlElement) {
  return allElements(root)
    .filter((e) => e.attributes.class === 'legend-entry')
    .map((g) => {
      const rect = g.children.find((c) => c.attributes.class === 'legend-box')!;
      const text = g.children.find((c) => c.name === 'text')!;
      const swatch = g.children.find((c) => c !== rect && c !== text)!;
      return {
        series: g.attributes['data-series']!,
        label: text.text.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'),
        textX: num(text, 'x'),
        swatch,
        box: { x: num(rect, 'x'), y: num(rect, 'y'), width: num(rect, 'width'), height: num(rect, 'height') },
      };
    });
}

function render(count: number, max: number, showMax = true) {
  const result = simulatePlan(input(count, max));
  const svg = renderSvg(result, {
    title: 'agent-fleet plan: test',
    maxReplicaCount: showMax ? max : undefined,
  });
  const root = parseXml(svg);
  return { result, svg, root, elements: allElements(root) };
}

/** The legend's entries, in order, with a maxReplicaCount and no token-budget gate. */
const LEGEND_SERIES = [
  'queue-depth',
  'ready',
  'running-jobs',
  'all-jobs',
  'max-replica-count',
  'poll-created',
];

describe('plan chart legend', () => {
  test('(a) no two legend entries overlap, and every label fits its box and the canvas', () => {
    const gatedResult = simulatePlan(gated());
    const roots = [
      ...(
        [
          [10, 3],
          [200, 50],
          [40, 1_000_000_000],
        ] as const
      ).map(([count, max]) => render(count, max).root),
      // With the token-budget gate's entry too.
      ...[4, 100, 1_000_000_000].map((maxReplicaCount) =>
        parseXml(renderSvg(gatedResult, { title: 'agent-fleet plan: gated', maxReplicaCount })),
      ),
    ];
    for (const root of roots) {
      const entries = legendOf(root);
      const canvas = { width: num(root, 'width'), height: num(root, 'height') };
      entries.forEach((a, i) => {
        expect(a.textX + estimateTextWidth(a.label)).toBeLessThanOrEqual(a.box.x + a.box.width);
        expect(a.box.x).toBeGreaterThanOrEqual(0);
        expect(a.box.x + a.box.width).toBeLessThanOrEqual(canvas.width);
        expect(a.box.y + a.box.height).toBeLessThanOrEqual(canvas.height);
        for (const b of entries.slice(i + 1)) {
          expect({ a: a.series, b: b.series, overlap: overlaps(a.box, b.box) }).toEqual({
            a: a.series,
            b: b.series,
            overlap: false,
          });
        }
      });
    }
  });

  test('(b) with the token-budget gate the legend keeps every entry and adds the gate last', () => {
    const root = parseXml(renderSvg(simulatePlan(gated()), { title: 't', maxReplicaCount: 100 }));
    expect(legendOf(root).map((e) => e.series)).toEqual([...LEGEND_SERIES, 'token-gate-closed']);
  });

  test('(a) property: the legend layout never overlaps whatever the labels', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: 'grapheme', maxLength: 120 }), { minLength: 1, maxLength: 14 }),
        fc.integer({ min: 100, max: 1200 }),
        (labels, maxWidth) => {
          const boxes = layoutLegend(labels, maxWidth);
          expect(boxes).toHaveLength(labels.length);
          boxes.forEach((a, i) => {
            // Each box holds swatch, gap and the measured label.
            expect(a.width).toBeGreaterThanOrEqual(
              LEGEND.swatch + LEGEND.gap + estimateTextWidth(labels[i]!),
            );
            // Only an entry wider than the row on its own may pass the right edge, and it starts the row.
            if (a.x + a.width > maxWidth) {
              expect(a.x).toBe(0);
            }
            for (const b of boxes.slice(i + 1)) {
              expect(overlaps(a, b)).toBe(false);
            }
          });
        },
      ),
    );
  });

  test('(a) property: the rendered legend does not overlap for any maxReplicaCount label', () => {
    const result = simulatePlan(input(12, 4));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (maxReplicaCount) => {
        const root = parseXml(renderSvg(result, { title: 't', maxReplicaCount }));
        const entries = legendOf(root);
        entries.forEach((a, i) => {
          expect(a.textX + estimateTextWidth(a.label)).toBeLessThanOrEqual(a.box.x + a.box.width);
          expect(a.box.x + a.box.width).toBeLessThanOrEqual(num(root, 'width'));
          for (const b of entries.slice(i + 1)) {
            expect(overlaps(a.box, b.box)).toBe(false);
          }
        });
      }),
      { numRuns: 50 },
    );
  });

  test('estimated widths grow with the text and are not below what the font draws', () => {
    expect(estimateTextWidth('')).toBe(0);
    expect(estimateTextWidth('ready messages')).toBeLessThan(estimateTextWidth('ready messages waiting'));
    // DejaVu Sans at 12 px (the sans-serif of Linux renderers): "m" is 11.7 px, "a" 7.4 px, "1" 7.6 px.
    expect(estimateTextWidth('m')).toBeGreaterThanOrEqual(11.7);
    expect(estimateTextWidth('a')).toBeGreaterThanOrEqual(7.4);
    expect(estimateTextWidth('1')).toBeGreaterThanOrEqual(7.6);
  });

  test('(b) every series, the poll markers and maxReplicaCount have a legend entry in their own colour', () => {
    const { result, root, elements } = render(10, 3);
    const entries = legendOf(root);
    const series = entries.map((e) => e.series);
    expect(series).toEqual(LEGEND_SERIES);
    for (const e of entries) {
      expect(e.label.trim()).not.toBe('');
    }
    // Every drawn path (a series) has an entry, and its swatch has the path's stroke and dash.
    const paths = elements.filter((e) => e.name === 'path');
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) {
      const entry = entries.find((e) => e.series === p.attributes.id);
      expect(entry).toBeDefined();
      expect(entry!.swatch.attributes.stroke).toBe(p.attributes.stroke);
      expect(entry!.swatch.attributes['stroke-dasharray']).toBe(p.attributes['stroke-dasharray']);
    }
    // A poll marker for every poll that created Jobs, in the legend's style.
    const created = result.polls.filter((p) => p.created > 0);
    expect(created.length).toBeGreaterThan(1);
    const marks = elements.find((e) => e.attributes.id === 'poll-created-marks')!;
    expect(marks.children).toHaveLength(created.length);
    const pollSwatch = entries.find((e) => e.series === 'poll-created')!.swatch;
    expect(pollSwatch.attributes.stroke).toBe(marks.attributes.stroke);
    // maxReplicaCount 3 is on the scale: a line in the legend's colour, labelled with its value.
    const maxLine = elements.find((e) => e.attributes.id === 'max-replica-count')!;
    expect(maxLine.name).toBe('line');
    expect(maxLine.attributes.stroke).toBe(
      entries.find((e) => e.series === 'max-replica-count')!.swatch.attributes.stroke,
    );
    expect(entries.find((e) => e.series === 'max-replica-count')!.label).toBe('maxReplicaCount 3');
  });

  test('(b) a maxReplicaCount far above the data is noted, not drawn off the plot; without one there is no entry', () => {
    const far = render(10, 500);
    const note = far.elements.find((e) => e.attributes.id === 'max-replica-count')!;
    expect(note.name).toBe('text');
    expect(note.text).toBe('maxReplicaCount 500: above this scale');
    expect(legendOf(far.root).find((e) => e.series === 'max-replica-count')!.label).toBe(
      'maxReplicaCount 500 (above this scale)',
    );
    const none = render(10, 3, false);
    expect(legendOf(none.root).map((e) => e.series)).not.toContain('max-replica-count');
    expect(none.elements.find((e) => e.attributes.id === 'max-replica-count')).toBeUndefined();
  });
});

describe('plan chart: the token-budget gate', () => {
  test('a band for every span the gate was closed, behind the lines, in the legend colour', () => {
    const result = simulatePlan(gated());
    const spans = closedSpans(result);
    // Spans run from a poll that found the gate closed to the next poll, adjoining ones merged.
    expect(spans[0]).toEqual([150, 270]);
    expect(spans.length).toBe(6);
    for (const [from, to] of spans) {
      const inside = result.polls.filter((p) => p.time >= from && p.time < to);
      expect(inside.every((p) => p.gateClosed && p.created === 0)).toBe(true);
    }
    const svg = renderSvg(result, { title: 't', maxReplicaCount: 100 });
    const root = parseXml(svg);
    const elements = allElements(root);
    const band = elements.find((e) => e.attributes.id === 'token-gate-closed')!;
    expect(band.children).toHaveLength(spans.length);
    const plot = elements.find((e) => e.name === 'rect' && e.attributes.stroke === '#333333')!;
    // The x axis runs from 0 to its last tick.
    const xMax = Number(elements.find((e) => e.attributes.id === 'x-axis')!.children.at(-1)!.text);
    const px = (time: number) => num(plot, 'x') + (time / xMax) * num(plot, 'width');
    band.children.forEach((rect, i) => {
      expect(num(rect, 'x')).toBeCloseTo(px(spans[i]![0]), 0);
      expect(num(rect, 'x') + num(rect, 'width')).toBeCloseTo(px(spans[i]![1]), 0);
      expect(num(rect, 'y')).toBe(num(plot, 'y'));
      expect(num(rect, 'height')).toBe(num(plot, 'height'));
    });
    // Drawn before (under) every series.
    const order = elements.map((e) => e.attributes.id);
    expect(order.indexOf('token-gate-closed')).toBeLessThan(order.indexOf('queue-depth'));
    const entry = legendOf(root).find((e) => e.series === 'token-gate-closed')!;
    expect(entry.label).toBe('token-budget gate closed (300000 tokens/min)');
    expect(entry.swatch.attributes.fill).toBe(band.attributes.fill);
    expect(entry.swatch.attributes['fill-opacity']).toBe(band.attributes['fill-opacity']);
    expect(elements.find((e) => e.name === 'desc')!.text).toMatch(
      /Shaded: the token-budget gate closed \(977 s\)/,
    );
  });

  test('a gate that never closed: a legend entry saying so, no band; no gate: neither', () => {
    const open = parseXml(renderSvg(simulatePlan(gated(1e12)), { title: 't' }));
    expect(legendOf(open).find((e) => e.series === 'token-gate-closed')!.label).toBe(
      'token-budget gate closed (1000000000000 tokens/min, never)',
    );
    expect(allElements(open).find((e) => e.attributes.id === 'token-gate-closed')!.children).toHaveLength(0);
    const none = parseXml(renderSvg(simulatePlan(input(10, 3)), { title: 't' }));
    expect(legendOf(none).map((e) => e.series)).not.toContain('token-gate-closed');
    expect(allElements(none).find((e) => e.attributes.id === 'token-gate-closed')).toBeUndefined();
  });
});

describe('plan chart axes', () => {
  const minY = (d: string) => Math.min(...[...d.matchAll(/,(-?[\d.]+)/g)].map((m) => Number(m[1])));

  test('(c) one count scale: equal peaks of queue depth and Jobs reach the same pixel', () => {
    // 3 tasks, 3 Jobs: queue depth peaks at 3 (t=0) and Jobs peak at 3 (created at t=0, running at 5 s).
    const result = simulatePlan(input(3, 3));
    expect(Math.max(...result.samples.map((s) => s.ready + s.unacked))).toBe(3);
    expect(Math.max(...result.samples.map((s) => s.runningPods))).toBe(3);
    const elements = allElements(parseXml(renderSvg(result, { title: 't', maxReplicaCount: 3 })));
    const d = (id: string) => elements.find((e) => e.attributes.id === id)!.attributes.d!;
    expect(minY(d('queue-depth'))).toBe(minY(d('running-jobs')));
    expect(minY(d('queue-depth'))).toBe(minY(d('all-jobs')));
    const maxLine = elements.find((e) => e.attributes.id === 'max-replica-count')!;
    expect(Number(maxLine.attributes.y1)).toBe(minY(d('running-jobs')));
  });

  test('(c) one y axis, titled with what it counts, with ticks; the x axis titled with its unit', () => {
    const { elements } = render(200, 50);
    const yAxis = elements.find((e) => e.attributes.id === 'y-axis')!;
    const ticks = yAxis.children.map((t) => Number(t.text));
    expect(ticks[0]).toBe(0);
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    // Evenly spaced values at evenly spaced pixels: a linear scale.
    const ys = yAxis.children.map((t) => num(t, 'y'));
    const dv = ticks[1]! - ticks[0]!;
    const dy = ys[1]! - ys[0]!;
    ticks.forEach((v, i) => {
      expect(v).toBeCloseTo(ticks[0]! + i * dv);
      expect(ys[i]).toBeCloseTo(ys[0]! + i * dy, 0);
    });
    // The queue depth's peak (200 messages) sits at the pixel the ticks give for 200.
    const at = (v: number) => ys[0]! + ((v - ticks[0]!) / dv) * dy - 4; // tick labels sit 4 px below the value
    const d = elements.find((e) => e.attributes.id === 'queue-depth')!.attributes.d!;
    expect(minY(d)).toBeCloseTo(at(200), 0);
    // No second axis: no tick labels right of the plot.
    const plot = elements.find((e) => e.name === 'rect' && e.attributes.stroke === '#333333')!;
    const right = num(plot, 'x') + num(plot, 'width');
    expect(elements.filter((e) => e.name === 'text' && num(e, 'x') > right + 1)).toEqual([]);
    expect(elements.find((e) => e.attributes.id === 'y-axis-title')!.text).toMatch(/count: messages .*Jobs/);
    expect(elements.find((e) => e.attributes.id === 'x-axis-title')!.text).toBe('time (s)');
    expect(elements.find((e) => e.attributes.id === 'x-axis')!.children.length).toBeGreaterThanOrEqual(3);
  });
});

describe('plan chart document', () => {
  test('deterministic, self-contained, and the same SVG inline in the HTML page', () => {
    const result = simulatePlan(input(50, 10, ScalingStrategy.default()));
    const a = renderSvg(result, { title: 'plan <default> & "amqp"', maxReplicaCount: 10 });
    const b = renderSvg(simulatePlan(input(50, 10, ScalingStrategy.default())), {
      title: 'plan <default> & "amqp"',
      maxReplicaCount: 10,
    });
    expect(a).toBe(b);
    const root = parseXml(a);
    for (const e of allElements(root)) {
      expect(['script', 'image', 'use', 'foreignObject', 'style', 'a']).not.toContain(e.name);
      for (const [name, value] of Object.entries(e.attributes)) {
        expect(name).not.toMatch(/href$/);
        expect(value).not.toMatch(/url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg$)/);
      }
    }
    const html = renderHtml(a, 'plan', ['line'], [['time (s)'], ['0']]);
    expect(html).toContain(a.replace(/^<\?xml[^>]*\?>\s*/, ''));
  });

  test('a title too long for the canvas is shrunk or cut so the drawn text fits, the <title> keeps it whole', () => {
    const title = `agent-fleet plan: ${'a-very-long-scaled-job-name-'.repeat(8)} (default over amqp)`;
    const root = parseXml(renderSvg(simulatePlan(input(5, 5)), { title }));
    const elements = allElements(root);
    expect(elements.find((e) => e.name === 'title')!.text).toBe(title);
    const shown = elements.find((e) => e.attributes.id === 'chart-title')!;
    expect(estimateTextWidth(shown.text, num(shown, 'font-size'))).toBeLessThanOrEqual(
      num(root, 'width') - 20,
    );
  });
});
