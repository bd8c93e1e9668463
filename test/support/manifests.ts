/**
 * The helper every construct test goes through: synthesize a chart, then prove each object is
 * valid (core Kubernetes 1.32 with unknown fields rejected, or the CRD schema of KEDA 2.16.1 /
 * prometheus-operator v0.93.0) and every pod template passes Pod Security "restricted".
 */
import { type Chart, Testing } from 'cdk8s';
import { validateCustomResource } from './crd-schema';
import { isCoreKubernetesObject, validateKubernetesObject } from './k8s-schema';
import { podSpecsOf, restrictedViolations } from './pod-security';

// biome-ignore lint/suspicious/noExplicitAny: synthesized manifests are untyped JSON
export type Manifest = any;

/** Schema and Pod Security problems of one object, each prefixed with its kind and name. */
export function manifestProblems(obj: Manifest): string[] {
  const schema = isCoreKubernetesObject(obj) ? validateKubernetesObject(obj) : validateCustomResource(obj);
  const pss = podSpecsOf(obj).flatMap(({ where, spec }) => restrictedViolations(spec, where));
  return [...schema, ...pss].map((p) => `${obj.kind}/${obj.metadata?.name}: ${p}`);
}

/** Synthesizes `chart` and throws listing every schema or Pod Security problem. */
export function synthValid(chart: Chart): Manifest[] {
  const objects = Testing.synth(chart);
  const problems = objects.flatMap(manifestProblems);
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
