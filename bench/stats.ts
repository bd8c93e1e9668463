/** Small statistics for benchmark samples. */

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** "median (min–max)" with `digits` decimals. */
export function spread(samples: readonly number[], digits = 1): string {
  const f = (n: number) => n.toFixed(digits);
  return `${f(median(samples))} (${f(Math.min(...samples))}–${f(Math.max(...samples))})`;
}

export function ratio(a: number, b: number, digits = 2): string {
  return (a / b).toFixed(digits);
}
