/**
 * Validation of synthesized core Kubernetes objects against the Kubernetes 1.32 API, as strict as
 * `kubectl apply` (strict field validation) without a cluster:
 *
 * 1. types and formats: the `kubernetes-models` validators (JSON schemas from the Kubernetes
 *    OpenAPI; they catch a memory of "4Gb" or a string where an integer belongs) but they accept
 *    unknown fields, so
 * 2. unknown fields: every object is walked with the field lists of the Kubernetes 1.32 models
 *    (`@kubernetes/client-node` 1.1.x, which is generated from exactly 1.32, installed under the
 *    alias `k8s-models-1.32`), and any field those types do not declare is an error.
 *
 * Not checked here (a real API server would): admission and defaulting, cross-field rules in
 * the Go validation code (e.g. "podFailurePolicy requires restartPolicy Never"); the constructs'
 * own tests assert those rules field by field.
 */

import { readFileSync } from 'node:fs';

interface ValidatingModel {
  validate(): void;
}

/** Model name → field name → field type, dumped by global-setup.js (the models are ES modules). */
const models: Record<string, Record<string, string>> = JSON.parse(
  readFileSync(require('./global-setup.js').FIELDS_FILE, 'utf8'),
);

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString']);

/** Model class name for an apiVersion/kind: `batch/v1` + `Job` → `V1Job`. */
function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

/** Unknown-field errors of `value` against the 1.32 model `type`, as JSON paths. */
function unknownFields(value: unknown, type: string, path: string, errors: string[]): void {
  if (value === undefined || value === null || PRIMITIVES.has(type)) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) unknownFields(item, array[1], `${path}[${i}]`, errors);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [key, item] of Object.entries(value as object))
      unknownFields(item, map[1], `${path}.${key}`, errors);
    return;
  }
  const model = models[type];
  if (!model) throw new Error(`no Kubernetes 1.32 model named ${type} (at ${path})`);
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`${path}: expected an object (${type})`);
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const fieldType = model[key];
    if (fieldType === undefined) errors.push(`${path}.${key}: unknown field in ${type} (Kubernetes 1.32)`);
    else unknownFields(item, fieldType, `${path}.${key}`, errors);
  }
}

/** True when the object is a core Kubernetes type (not a custom resource). */
export function isCoreKubernetesObject(obj: { apiVersion: string; kind: string }): boolean {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  return !group.includes('.') || group.endsWith('.k8s.io');
}

/** All schema errors of one synthesized object; empty when it is valid Kubernetes 1.32. */
export function validateKubernetesObject(obj: { apiVersion: string; kind: string }): string[] {
  const name = modelName(obj.apiVersion, obj.kind);
  if (!models[name]) return [`${obj.apiVersion}/${obj.kind}: not a Kubernetes 1.32 type`];
  const errors: string[] = [];
  unknownFields(obj, name, obj.kind, errors);

  const group = obj.apiVersion.includes('/') ? obj.apiVersion : `v1`;
  let Model: new (data: unknown) => ValidatingModel;
  try {
    Model = require(`kubernetes-models/${group}/${obj.kind}`)[obj.kind];
  } catch {
    return [...errors, `${obj.apiVersion}/${obj.kind}: no kubernetes-models validator`];
  }
  try {
    new Model(obj).validate();
  } catch (error) {
    errors.push(`${obj.kind}: ${(error as Error).message}`);
  }
  return errors;
}
