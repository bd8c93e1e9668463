/**
 * Label values from handler code are bounded: at most MAX_LABEL_VALUES distinct values of
 * MAX_LABEL_VALUE_LENGTH characters per label, later new values become "other"; the breakers of
 * `ctx.guard` are bounded the same way.
 */
import fc from 'fast-check';
import { DependencyGuards } from '../src/guard';
import {
  BoundedLabels,
  MAX_LABEL_VALUE_LENGTH,
  MAX_LABEL_VALUES,
  OVERFLOW_LABEL_VALUE,
  truncateLabelValue,
} from '../src/label-values';

describe('BoundedLabels', () => {
  test('keeps the first values, maps later new ones to "other", and tells once', () => {
    const overflows: unknown[] = [];
    const labels = new BoundedLabels('model', { onOverflow: (info) => overflows.push(info) });
    const mapped = Array.from({ length: 5000 }, (_, i) => labels.value(`model-${i}`));
    expect(new Set(mapped).size).toBe(MAX_LABEL_VALUES + 1);
    expect(mapped.slice(0, MAX_LABEL_VALUES)).toEqual(
      Array.from({ length: MAX_LABEL_VALUES }, (_, i) => `model-${i}`),
    );
    expect(mapped.slice(MAX_LABEL_VALUES).every((v) => v === OVERFLOW_LABEL_VALUE)).toBe(true);
    expect(overflows).toEqual([
      { label: 'model', maxValues: MAX_LABEL_VALUES, firstRefused: `model-${MAX_LABEL_VALUES}` },
    ]);
    // Kept values stay kept: a series never moves to "other" later.
    expect(labels.value('model-3')).toBe('model-3');
    expect(labels.size).toBe(MAX_LABEL_VALUES);
  });

  test('values are cut to 64 characters, never inside a surrogate pair; cut values that agree share a slot', () => {
    const labels = new BoundedLabels('model', { maxValues: 2 });
    const long = `${'a'.repeat(MAX_LABEL_VALUE_LENGTH)}-one`;
    expect(labels.value(long)).toBe('a'.repeat(MAX_LABEL_VALUE_LENGTH));
    expect(labels.value(`${'a'.repeat(MAX_LABEL_VALUE_LENGTH)}-two`)).toBe(
      'a'.repeat(MAX_LABEL_VALUE_LENGTH),
    );
    expect(labels.size).toBe(1);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (value) => {
        const cut = truncateLabelValue(value);
        return (
          value.startsWith(cut) &&
          [...cut].length === Math.min([...value].length, MAX_LABEL_VALUE_LENGTH) &&
          Buffer.from(cut, 'utf8').toString('utf8') === cut
        );
      }),
    );
  });

  test('the values kept never exceed the cap, whatever arrives', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 100 }), { maxLength: 300 }), (values) => {
        const labels = new BoundedLabels('x');
        const seen = new Set(values.map((v) => labels.value(v)));
        return labels.size <= MAX_LABEL_VALUES && seen.size <= MAX_LABEL_VALUES + 1;
      }),
    );
  });
});

describe('DependencyGuards', () => {
  test('5,000 dependency names hold at most the cap plus one shared "other" breaker, with one warning', async () => {
    const overflows: string[] = [];
    const guards = new DependencyGuards({
      onCircuit: () => undefined,
      onOverflow: ({ firstRefused }) => overflows.push(firstRefused),
    });
    const signal = new AbortController().signal;
    for (let i = 0; i < 5000; i++) {
      await guards.run(`dep-${i}`, async () => i, {}, signal);
    }
    expect(guards.size).toBe(MAX_LABEL_VALUES + 1);
    expect(guards.keyFor('dep-7')).toBe('dep-7');
    expect(guards.keyFor('dep-4999')).toBe(OVERFLOW_LABEL_VALUE);
    expect(overflows).toEqual([`dep-${MAX_LABEL_VALUES}`]);
  });

  test('names past the cap share one breaker: failures of any of them open it for all', async () => {
    const opened: string[] = [];
    const guards = new DependencyGuards({
      onCircuit: (dependency, open) => {
        if (open) opened.push(dependency);
      },
      onOverflow: () => undefined,
    });
    const signal = new AbortController().signal;
    for (let i = 0; i < MAX_LABEL_VALUES; i++) {
      await guards.run(`dep-${i}`, async () => i, {}, signal);
    }
    const failing = { retries: 0, consecutiveFailures: 2, halfOpenAfterMs: 60_000 };
    const fail = async () => {
      throw new Error('down');
    };
    await expect(guards.run('late-a', fail, failing, signal)).rejects.toThrow('down');
    await expect(guards.run('late-b', fail, failing, signal)).rejects.toThrow(/unavailable/);
    await expect(guards.run('late-c', async () => 1, failing, signal)).rejects.toThrow(
      /dependency "other" is unavailable/,
    );
    expect(opened).toEqual([OVERFLOW_LABEL_VALUE]);
    // The named ones are untouched.
    await expect(guards.run('dep-0', async () => 'ok', {}, signal)).resolves.toBe('ok');
  });
});
