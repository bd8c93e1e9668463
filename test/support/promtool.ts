/**
 * A real Prometheus rule checker for the tests: `promtool` from Debian's `prometheus` package, found
 * on PATH or extracted from the package on first use (see testkit/prometheus.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { prometheusBinary } from '../../testkit/prometheus';

/** Path of a working promtool; downloads it on first use. */
export function promtoolPath(): string {
  return prometheusBinary('promtool');
}

/** Output of one promtool run. */
export interface PromtoolResult {
  readonly ok: boolean;
  readonly output: string;
}

function run(args: string[], cwd: string): PromtoolResult {
  const r = spawnSync(promtoolPath(), args, { cwd, encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** A Prometheus rule file's groups (`spec.groups` of a PrometheusRule as synthesized). */
// biome-ignore lint/suspicious/noExplicitAny: synthesized manifests are untyped JSON
export type RuleGroups = any[];

/** `promtool check rules` on `{ groups }`. */
export function checkRules(groups: RuleGroups): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'rules-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    return run(['check', 'rules', 'rules.yaml'], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `promtool test rules`: `tests` is the `tests:` list of a unit-test file (input_series,
 * alert_rule_test, …); the rule file holds `groups`.
 */
export function testRules(groups: RuleGroups, tests: unknown[], evaluationInterval = '1m'): PromtoolResult {
  const dir = mkdtempSync(join(tmpdir(), 'rules-test-'));
  try {
    writeFileSync(join(dir, 'rules.yaml'), stringify({ groups }));
    writeFileSync(
      join(dir, 'test.yaml'),
      stringify({ rule_files: ['rules.yaml'], evaluation_interval: evaluationInterval, tests }),
    );
    return run(['test', 'rules', 'test.yaml'], dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
