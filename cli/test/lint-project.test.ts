/**
 * Every manifest this repository synthesizes passes `agent-fleet lint` with no finding: the example
 * fleet (`npm run synth`), the quick start, and the platform chart of the packaging test. Synthesized
 * afresh from the compiled examples (`npm test` builds before jest).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Testing } from 'cdk8s';
import { stringify } from 'yaml';
import { PlatformChart } from '../../test/packaging/fixtures/platform/src/chart';
import { cli } from './support/io';

const ROOT = path.join(__dirname, '..', '..');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'af-lint-project-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function synthExample(script: string): string[] {
  const outdir = path.join(dir, script);
  execFileSync(process.execPath, [path.join(ROOT, 'dist', 'examples', `${script}.js`)], {
    env: { ...process.env, CDK8S_OUTDIR: outdir },
  });
  return readdirSync(outdir).map((f) => path.join(outdir, f));
}

test.each([
  ['the example fleet (examples/main.ts)', () => synthExample('main')],
  ['the quick start (examples/quickstart.ts)', () => synthExample('quickstart')],
  [
    'the packaging test’s platform chart',
    () => {
      const file = path.join(dir, 'platform.k8s.yaml');
      const objects = Testing.synth(new PlatformChart(Testing.app(), 'platform'));
      writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
      return [file];
    },
  ],
])('%s: no finding, no note', async (_, synth) => {
  const files = synth();
  expect(files.length).toBeGreaterThan(0);
  const run = await cli(['lint', '--format', 'json', ...files]);
  const report = JSON.parse(run.stdout);
  expect({ findings: report.findings, notes: report.notes, code: run.code }).toEqual({
    findings: [],
    notes: [],
    code: 0,
  });
  expect(report.objects).toBeGreaterThan(1);
});
