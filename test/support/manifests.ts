/**
 * The helper every construct test goes through: synthesize a chart, then prove each object is
 * valid (core Kubernetes 1.32 with unknown fields rejected, or the CRD schema of KEDA 2.16.1 /
 * prometheus-operator v0.93.0 / Kueue v0.19.2) and every pod template passes Pod Security "restricted", with the
 * validator users get (`@agent-fleet/validate`, rules AF001 and AF101).
 */
import { type Chart, Testing } from 'cdk8s';
import { type Finding, validateManifests } from '../../validate/src';

// biome-ignore lint/suspicious/noExplicitAny: synthesized manifests are untyped JSON
export type Manifest = any;

/** The schema and Pod Security rules; cli/test/lint-project.test.ts runs every rule over whole charts. */
const CHECKS = { rules: ['AF001', 'AF101'] };

/**
 * `Kind/name: ` then the field and the problem; schema fields as JSON pointers
 * (`/spec/triggers/0/metadata/value`), the form the construct tests match against.
 */
function problem(f: Finding): string {
  const field = f.rule === 'AF001' ? `/${f.field.replace(/\[(\d+)\]/g, '.$1').replace(/\./g, '/')}` : f.field;
  const detail = f.message.slice(f.message.indexOf(': ') + 2 + f.field.length).replace(/^:/, '');
  return `${f.object.kind}/${f.object.name}: ${f.rule} ${field}${detail}`;
}

/** Schema and Pod Security problems of one object, each naming its kind, name and field. */
export function manifestProblems(obj: Manifest): string[] {
  return validateManifests([obj], CHECKS).findings.map(problem);
}

/** Synthesizes `chart` and throws listing every schema or Pod Security problem. */
export function synthValid(chart: Chart): Manifest[] {
  const objects = Testing.synth(chart);
  const problems = validateManifests(objects, CHECKS).findings.map(problem);
  if (problems.length > 0) throw new Error(`invalid manifests:\n  ${problems.join('\n  ')}`);
  return objects;
}

/** The one object of `kind` (fails when there are none or several). */
export function only(objects: Manifest[], kind: string): Manifest {
  const found = objects.filter((o) => o.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0];
}

/** The container's env as name → value or valueFrom. */
export function envOf(podSpec: Manifest): Record<string, Manifest> {
  return Object.fromEntries(podSpec.containers[0].env.map((e: Manifest) => [e.name, e.value ?? e.valueFrom]));
}
