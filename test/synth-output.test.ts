/**
 * `npm run synth` as a user runs it: the real cdk8s-cli synthesizing the example app. Its output
 * must be quiet: no stack trace (cdk8s-cli's upgrade check fails without a network and prints
 * one), no upgrade notice, and no construct notice the example has acknowledged.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.join(__dirname, '..');
const CDK8S = path.join(ROOT, 'node_modules', '.bin', 'cdk8s');
const SYNTH_SCRIPT = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts
  .synth as string;

jest.setTimeout(120_000);

test('npm run synth passes --check-upgrade=false to cdk8s synth', () => {
  expect(SYNTH_SCRIPT).toMatch(/cdk8s synth --check-upgrade=false/);
});

test('cdk8s synth of the example prints no stack trace, no upgrade notice and no acknowledged notice', () => {
  expect(existsSync(path.join(ROOT, 'dist', 'examples', 'main.js'))).toBe(true);
  const out = mkdtempSync(path.join(os.tmpdir(), 'agent-fleet-synth-'));
  try {
    const run = spawnSync(CDK8S, ['synth', '--check-upgrade=false', '--output', out], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    });
    expect(run.status).toBe(0);
    const printed = `${run.stdout}\n${run.stderr}`;
    expect(printed).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(printed).not.toMatch(/new version|upgrade|Redirected request failed/i);
    expect(printed).not.toMatch(/AgentFleetWarning|no PodDisruptionBudget/);
    expect(readFileSync(path.join(out, 'agent-fleet.k8s.yaml'), 'utf8')).toMatch(/kind: ScaledJob/);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
