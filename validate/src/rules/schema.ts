/** AF001: the object itself is valid Kubernetes 1.32, or valid against its shipped CRD schema. */
import { customResourceProblems, hasCustomResourceSchema } from '../custom-resource-schema';
import { isCoreKubernetesObject, validateKubernetesObject } from '../kubernetes-schema';
import { type Json, show } from '../manifest';
import type { Rule, RuleHit } from '../rule';

/** Why the object is not checked against a schema (an unknown custom resource), or undefined when it is. */
export function schemaSkipReason(obj: Json): string | undefined {
  if (typeof obj?.apiVersion !== 'string' || typeof obj?.kind !== 'string') return undefined;
  if (isCoreKubernetesObject(obj) || hasCustomResourceSchema(obj.apiVersion, obj.kind)) return undefined;
  return `no schema ships for ${obj.apiVersion} ${obj.kind}: its fields are not checked (fleet rules still apply)`;
}

export const schema: Rule = {
  id: 'AF001',
  severity: 'error',
  title: 'The object does not match the Kubernetes 1.32 API or its CRD schema (unknown fields rejected)',
  fix: 'correct or remove the field; a LimitRange sets per-container and per-pod min, max and defaults only (retries are the Job’s backoffLimit)',
  source:
    'https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation; KEDA 2.16.1 and prometheus-operator v0.93.0 CRDs',
  check(obj): RuleHit[] {
    if (typeof obj?.apiVersion !== 'string' || typeof obj?.kind !== 'string') {
      return [{ field: '', message: `is not a Kubernetes object (no apiVersion and kind): ${show(obj)}` }];
    }
    if (schemaSkipReason(obj)) return [];
    const problems = isCoreKubernetesObject(obj)
      ? validateKubernetesObject(obj)
      : customResourceProblems(obj);
    return problems.map((p) => ({ field: p.field, message: p.message }));
  },
};
