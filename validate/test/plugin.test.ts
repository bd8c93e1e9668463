/** The cdk8s plugin against a context shaped like cdk8s-cli's, and its type against cdk8s-cli's interface. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Validation, ValidationContext } from 'cdk8s-cli/plugins';
import { stringify } from 'yaml';
import { AgentFleetValidation } from '../src';
import { brokenFleet, CLEAN_FLEET, readManifests } from './fixtures';

// The plugin is what cdk8s-cli's Validation interface describes (checked by the compiler).
const asCdk8sPlugin: Validation = new AgentFleetValidation();

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'af-plugin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the plugin the way cdk8s-cli does: a real ValidationContext over a written manifest. */
async function run(objects: unknown[], props = {}, metadata = {}) {
  const file = path.join(dir, `m${Math.random().toString(36).slice(2)}.k8s.yaml`);
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  const context = new ValidationContext([file], '@agent-fleet/validate', '0.1.0', metadata, false);
  const logged: string[] = [];
  Object.assign(context.logger, { log: (m: string) => logged.push(m) });
  await new AgentFleetValidation(props).validate(context);
  return { report: context.report, json: context.report.toJson(), logged, file };
}

test('a clean fleet passes', async () => {
  expect(typeof asCdk8sPlugin.validate).toBe('function');
  const { report, json } = await run(readManifests(CLEAN_FLEET));
  expect(report.success).toBe(true);
  expect(json.violations).toEqual([]);
  expect(json.summary.metadata).toMatchObject({ errors: '0', warnings: '0' });
});

test('an error fails, naming the rule, the construct path of the object, the field and the fix', async () => {
  const { report, json, file } = await run(
    brokenFleet('AF111'),
    {},
    {
      'research-batch': { path: 'platform/Guardrails/Budget' },
    },
  );
  expect(report.success).toBe(false);
  expect(json.violations).toEqual([
    {
      ruleName: expect.stringMatching(/^AF111 \(error\) A PodDisruptionBudget over Job pods/),
      recommendation: expect.stringContaining('docs/validation-rules.md#af111'),
      fix: expect.stringContaining('integer minAvailable'),
      violatingConstructs: [
        {
          resourceName: 'research-batch',
          constructPath: 'platform/Guardrails/Budget',
          manifestPath: file,
          locations: [
            expect.stringMatching(/^spec\.maxUnavailable: PodDisruptionBudget research\/research-batch/),
          ],
        },
      ],
    },
  ]);
  expect(report.toString()).toContain('Construct Path: platform/Guardrails/Budget');
});

test('warnings are reported without failing, unless failOnWarnings; skip drops a rule; notes are logged', async () => {
  const broken = [
    ...brokenFleet('AF205'),
    { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } },
  ];
  const lenient = await run(broken);
  expect(lenient.report.success).toBe(true);
  expect(lenient.json.violations.map((v) => v.ruleName.slice(0, 5))).toEqual(['AF205']);
  expect(lenient.logged).toEqual([expect.stringContaining('no schema ships for example.com/v1 Widget')]);
  expect((await run(broken, { failOnWarnings: true })).report.success).toBe(false);
  expect((await run(broken, { skip: ['AF205'] })).json.violations).toEqual([]);
});
