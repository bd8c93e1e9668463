/** The shipped Kubernetes 1.32 field lists and the core-object checks built on them. */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { isCoreKubernetesObject, isKubernetesType, validateKubernetesObject } from '../src';

test('schemas/kubernetes-1.32-fields.json is what the installed Kubernetes 1.32 models give', () => {
  const script = path.join(__dirname, '..', 'scripts', 'extract-kubernetes-fields.js');
  expect(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' })).not.toThrow();
});

test('core groups are told from custom resources', () => {
  expect(isCoreKubernetesObject({ apiVersion: 'v1' })).toBe(true);
  expect(isCoreKubernetesObject({ apiVersion: 'networking.k8s.io/v1' })).toBe(true);
  expect(isCoreKubernetesObject({ apiVersion: 'keda.sh/v1alpha1' })).toBe(false);
  expect(isKubernetesType('policy/v1', 'PodDisruptionBudget')).toBe(true);
  expect(isKubernetesType('policy/v1beta1', 'PodDisruptionBudget')).toBe(false);
});

test('an int-or-string with a bad quantity gives one problem, not three', () => {
  const limitRange = {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: 'l' },
    spec: { limits: [{ type: 'Container', default: { memory: '2 Gi' } }] },
  };
  expect(validateKubernetesObject(limitRange)).toEqual([
    { field: 'spec.limits[0].default.memory', message: 'must match format "quantity"' },
  ]);
});
