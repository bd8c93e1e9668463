/**
 * Proof both ways: the clean fleet has no finding, each rule fires on its own broken fixture and on
 * nothing else, and the tutorial's mistakes are each reported by their rule.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { IGNORE_ANNOTATION, IGNORE_REASON_ANNOTATION, RULES, validateManifests } from '../src';
import { BREAKERS, brokenFleet, CLEAN_FLEET, readManifests, TUTORIAL_MISTAKES } from './fixtures';

const DOCS = readFileSync(path.join(__dirname, '..', '..', 'docs', 'validation-rules.md'), 'utf8');
const ids = RULES.map((r) => r.id);

const rulesFired = (objects: unknown[]) => [
  ...new Set(validateManifests(objects).findings.map((f) => f.rule)),
];

describe('the rule table', () => {
  test('ids are unique, in order, and each rule has a severity, a one-line title, a fix and a source', () => {
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const rule of RULES) {
      expect({ id: rule.id, ok: /^AF\d{3}$/.test(rule.id) }).toEqual({ id: rule.id, ok: true });
      expect(['error', 'warning']).toContain(rule.severity);
      expect(rule.title).not.toMatch(/\n/);
      expect(rule.fix.length).toBeGreaterThan(10);
      expect(rule.source.length).toBeGreaterThan(5);
    }
  });

  test.each(ids)('%s has a section in docs/validation-rules.md with its severity', (id) => {
    const rule = RULES.find((r) => r.id === id);
    const section = new RegExp(`^### ${id}: .+\\n\\n\\*\\*${rule?.severity}\\*\\*`, 'm');
    expect(DOCS).toMatch(section);
  });
});

describe('the clean fleet', () => {
  test('has no finding, no note', () => {
    const result = validateManifests(readManifests(CLEAN_FLEET));
    expect(result.findings).toEqual([]);
    expect(result.notes).toEqual([]);
  });
});

describe('one broken fixture per rule', () => {
  test('every rule has one', () => {
    expect(Object.keys(BREAKERS).sort()).toEqual(ids);
  });

  test.each(ids)('%s fires on its fixture and nothing else does', (id) => {
    const result = validateManifests(brokenFleet(id));
    expect(result.findings.length).toBeGreaterThan(0);
    expect([...new Set(result.findings.map((f) => f.rule))]).toEqual([id]);
    const rule = RULES.find((r) => r.id === id);
    for (const f of result.findings) {
      expect(f.severity).toBe(rule?.severity);
      // One line that names the object (kind and name) and the field.
      expect(f.message).not.toMatch(/\n/);
      expect(f.message).toContain(`${f.object.kind} research/${f.object.name}: ${f.field}`);
      expect(f.fix.length).toBeGreaterThan(0);
    }
  });

  test.each(ids)('%s fires on no other rule’s fixture', (id) => {
    const elsewhere = ids.filter((other) => other !== id && rulesFired(brokenFleet(other)).includes(id));
    expect(elsewhere).toEqual([]);
  });
});

describe('the tutorial’s mistakes (DESIGN.md, "What the tutorial gets wrong")', () => {
  const findings = validateManifests(readManifests(TUTORIAL_MISTAKES)).findings;
  const at = (rule: string, kind: string, field: string) =>
    findings.filter((f) => f.rule === rule && f.object.kind === kind && f.field === field);

  test.each([
    [
      'SIGTERM handler exits 0 under restartPolicy OnFailure',
      'AF102',
      'Job',
      'spec.template.spec.restartPolicy',
    ],
    [
      'checkpoint named after the agent index',
      'AF105',
      'Job',
      'spec.template.spec.containers[0].env[1].value',
    ],
    ['PDB maxUnavailable percentage over Job pods', 'AF111', 'PodDisruptionBudget', 'spec.maxUnavailable'],
    [
      '"LimitRange caps pod restarts": the field it does not have',
      'AF001',
      'LimitRange',
      'spec.limits[0].maxRestarts',
    ],
    [
      '"LimitRange caps pod restarts": the Job left without a budget',
      'AF107',
      'ScaledJob',
      'spec.jobTargetRef.backoffLimit',
    ],
    ['namespaces selected by `name`', 'AF301', 'NetworkPolicy', 'spec.egress[0].to[0].namespaceSelector'],
    ['DNS over UDP only', 'AF302', 'NetworkPolicy', 'spec.egress[1].ports'],
    ['Ingress isolation blocks the metrics scrape', 'AF303', 'NetworkPolicy', 'spec.policyTypes'],
    ['ScaledJob over amqp with the default strategy', 'AF201', 'ScaledJob', 'spec.scalingStrategy.strategy'],
  ])('%s: %s on %s %s', (_, rule, kind, field) => {
    expect(at(rule, kind, field)).toHaveLength(1);
  });

  test('the fixture fails as a whole', () => {
    expect(validateManifests(readManifests(TUTORIAL_MISTAKES)).errors).toBeGreaterThan(0);
  });
});

describe('rule selection and suppression', () => {
  test('rules and skip select what runs; an unknown id is an error', () => {
    const broken = brokenFleet('AF205');
    expect(validateManifests(broken, { skip: ['AF205'] }).findings).toEqual([]);
    expect(validateManifests(broken, { rules: ['AF201'] }).findings).toEqual([]);
    expect(validateManifests(broken, { rules: ['AF205'] }).findings).toHaveLength(1);
    expect(() => validateManifests(broken, { rules: ['AF999'] })).toThrow(/no rule AF999/);
  });

  test('an ignore annotation with a reason suppresses the rules it names on that object only', () => {
    const objects = brokenFleet('AF110');
    const job = objects.find((o) => o.kind === 'Job');
    job.metadata.annotations = {
      [IGNORE_ANNOTATION]: 'AF110, AF205',
      [IGNORE_REASON_ANNOTATION]: 'sized by VPA',
    };
    const result = validateManifests(objects);
    expect(result.findings).toEqual([]);
    expect(result.suppressed.map((s) => [s.rule, s.reason])).toEqual([['AF110', 'sized by VPA']]);
  });

  test('without a reason nothing is ignored and AF002 reports it; unknown ids too', () => {
    const objects = brokenFleet('AF110');
    objects.find((o) => o.kind === 'Job').metadata.annotations = { [IGNORE_ANNOTATION]: 'AF110,AF777' };
    const result = validateManifests(objects);
    expect(result.findings.map((f) => f.rule).sort()).toEqual(['AF002', 'AF002', 'AF110']);
    expect(result.findings.map((f) => f.message).join('\n')).toMatch(/names AF777, which is not a rule/);
    expect(result.findings.map((f) => f.message).join('\n')).toMatch(
      /without a reason in agent-fleet.dev\/ignore-reason/,
    );
  });
});

describe('robustness', () => {
  test('an unknown custom resource is skipped with a note; its neighbours are still checked', () => {
    const widget = {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w' },
      spec: { any: 1 },
    };
    const result = validateManifests([widget, ...brokenFleet('AF108')]);
    expect(result.notes.map((n) => n.message)).toEqual([
      'Widget w: no schema ships for example.com/v1 Widget: its fields are not checked (fleet rules still apply)',
    ]);
    expect(result.findings.map((f) => f.rule)).toEqual(['AF108']);
  });

  test('a core kind Kubernetes 1.32 does not have is a schema finding', () => {
    const result = validateManifests([{ apiVersion: 'batch/v9', kind: 'Job', metadata: { name: 'x' } }]);
    expect(result.findings.map((f) => f.message)).toEqual([
      'Job x: apiVersion: batch/v9 Job is not a Kubernetes 1.32 type',
    ]);
  });

  test('anything at all gives findings or notes, never an exception', () => {
    const base = readManifests(CLEAN_FLEET);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.anything(),
            fc.tuple(fc.constantFrom(...base), fc.nat(), fc.anything()).map(([o, at, v]) => mangle(o, at, v)),
          ),
          { maxLength: 4 },
        ),
        (objects) => {
          expect(Array.isArray(validateManifests(objects).findings)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** A copy of the object with the field at position `at` (in walk order) replaced by `value`. */
function mangle(obj: unknown, at: number, value: unknown): unknown {
  const copy = JSON.parse(JSON.stringify(obj));
  const fields: Array<[Record<string, unknown>, string]> = [];
  const walk = (node: unknown) => {
    if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        fields.push([node as Record<string, unknown>, k]);
        walk(v);
      }
    }
  };
  walk(copy);
  const [parent, key] = fields[at % fields.length];
  parent[key] = value;
  return copy;
}
