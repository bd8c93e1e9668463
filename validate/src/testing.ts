/** For platform repositories' tests: fail a test on any finding in a chart's manifests. */
import { formatFindings } from './format';
import type { Json } from './manifest';
import type { Severity } from './rule';
import { type ValidateOptions, validateManifests } from './validate';

/** A cdk8s Chart (its `toJson()` is what `Testing.synth(chart)` returns), without depending on cdk8s. */
export interface Synthesizable {
  toJson(): unknown[];
}

export interface ExpectValidOptions extends ValidateOptions {
  /** The least severe finding that fails. @default 'warning' (every finding fails) */
  readonly failOn?: Severity;
}

/**
 * Synthesizes `chart` (or takes the objects given) and throws an Error listing every finding, grouped by
 * object; returns the objects, e.g. for a snapshot.
 */
export function expectValidManifests(
  chart: Synthesizable | readonly unknown[],
  options: ExpectValidOptions = {},
): Json[] {
  const objects: Json[] = Array.isArray(chart) ? [...chart] : (chart as Synthesizable).toJson();
  const result = validateManifests(objects, options);
  const failing = result.findings.filter(
    (f) => (options.failOn ?? 'warning') === 'warning' || f.severity === 'error',
  );
  if (failing.length > 0) {
    throw new Error(
      `the manifests have ${failing.length} finding(s):\n${formatFindings({ ...result, findings: failing })}`,
    );
  }
  return objects;
}
