/**
 * How much a counter grew within a window, counting the first sample of every series.
 *
 * `increase()` and `rate()` count only what a series gained between two of its samples in the
 * window: a series whose first sample already holds its events adds nothing. Agent pods are such
 * series: a batch pod with one task, or a ScaledJob pod whose tasks end before its first scrape,
 * is first scraped after its count moved (the worker waits for that scrape before exiting, so the
 * count is there), and each pod is a series of its own.
 *
 * Per series this is its last value in the window minus its value at the window's start, or minus
 * 0 for a series that did not exist then (it started counting inside the window): exact counts, no
 * extrapolation. Agent pods run with `restartPolicy: Never`, so a series never resets; a reset
 * would count as 0, never below.
 *
 * @module
 */
import { promDuration } from '../internal/promql';

/**
 * PromQL for what each series of `series` (a metric name with its selector) counted within the last
 * `windowSeconds`, one element per series: aggregate it with `sum` / `sum by`.
 */
export function counterIncrease(series: string, windowSeconds: number): string {
  const w = promDuration(windowSeconds);
  const last = `last_over_time(${series}[${w}])`;
  return `clamp_min(${last} - (${series} offset ${w} or ${last} * 0), 0)`;
}
