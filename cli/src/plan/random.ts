/**
 * Deterministic randomness for `plan`: a seeded PRNG (mulberry32) and the task-duration distributions.
 */
import { usageError } from '../io';

/** mulberry32: a small, fast 32-bit PRNG; the same seed always yields the same sequence. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A task-duration distribution, in seconds. */
export type DurationDistribution =
  | { readonly kind: 'fixed'; readonly seconds: number }
  | { readonly kind: 'uniform'; readonly min: number; readonly max: number }
  | { readonly kind: 'exponential'; readonly mean: number }
  | { readonly kind: 'normal'; readonly mean: number; readonly stddev: number };

const NUM = String.raw`(\d+(?:\.\d+)?)`;

/**
 * Parses `--task-duration`: `60` / `90s` / `2m` (fixed), `uniform:30-90`, `exp:60` (exponential with that
 * mean), `normal:60,15` (mean, standard deviation; truncated at 1 s). Seconds, or with an `s`/`m`/`h` unit.
 */
export function parseDistribution(flag: string, value: string): DurationDistribution {
  const v = value.trim();
  const unit = '(s|m|h)?';
  const toSec = (n: string, u: string | undefined) => Number(n) * { s: 1, m: 60, h: 3600 }[(u ?? 's') as 's'];
  let m = new RegExp(`^${NUM}${unit}$`).exec(v);
  if (m) {
    return positive(flag, value, { kind: 'fixed', seconds: toSec(m[1]!, m[2]) });
  }
  m = new RegExp(`^uniform:${NUM}${unit}-${NUM}${unit}$`).exec(v);
  if (m) {
    const min = toSec(m[1]!, m[2]);
    const max = toSec(m[3]!, m[4]);
    if (max < min) {
      throw usageError(`${flag} ${value}: the upper bound is below the lower bound; write uniform:MIN-MAX.`);
    }
    return positive(flag, value, { kind: 'uniform', min, max });
  }
  m = new RegExp(`^exp:${NUM}${unit}$`).exec(v);
  if (m) {
    return positive(flag, value, { kind: 'exponential', mean: toSec(m[1]!, m[2]) });
  }
  m = new RegExp(`^normal:${NUM}${unit},${NUM}${unit}$`).exec(v);
  if (m) {
    return positive(flag, value, { kind: 'normal', mean: toSec(m[1]!, m[2]), stddev: toSec(m[3]!, m[4]) });
  }
  throw usageError(
    `${flag} must be a duration (60, 90s, 2m), uniform:MIN-MAX, exp:MEAN or normal:MEAN,STDDEV; got "${value}".`,
  );
}

function positive(flag: string, value: string, d: DurationDistribution): DurationDistribution {
  const first = d.kind === 'fixed' ? d.seconds : d.kind === 'uniform' ? d.min : d.mean;
  if (!(first > 0)) {
    throw usageError(`${flag} ${value}: durations must be longer than 0 seconds.`);
  }
  return d;
}

/** The mean of a distribution in seconds (used for the LLM load per busy Job). */
export function meanSeconds(d: DurationDistribution): number {
  switch (d.kind) {
    case 'fixed':
      return d.seconds;
    case 'uniform':
      return (d.min + d.max) / 2;
    case 'exponential':
    case 'normal':
      return d.mean;
  }
}

/** Draws one duration, rounded up to whole seconds, at least 1 s. */
export function drawSeconds(d: DurationDistribution, random: () => number): number {
  let x: number;
  switch (d.kind) {
    case 'fixed':
      x = d.seconds;
      break;
    case 'uniform':
      x = d.min + (d.max - d.min) * random();
      break;
    case 'exponential':
      x = -d.mean * Math.log(1 - random());
      break;
    case 'normal': {
      // Box-Muller.
      const u1 = 1 - random();
      const u2 = random();
      x = d.mean + d.stddev * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      break;
    }
  }
  return Math.max(1, Math.ceil(x - 1e-9));
}

export function describeDistribution(d: DurationDistribution): string {
  switch (d.kind) {
    case 'fixed':
      return `${d.seconds} s`;
    case 'uniform':
      return `uniform ${d.min}-${d.max} s`;
    case 'exponential':
      return `exponential, mean ${d.mean} s`;
    case 'normal':
      return `normal ${d.mean} s ± ${d.stddev} s`;
  }
}
