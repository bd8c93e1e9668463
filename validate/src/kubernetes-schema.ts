/**
 * Core Kubernetes objects against the Kubernetes 1.32 API, as strict as `kubectl apply` (strict field
 * validation) without a cluster:
 *
 * 1. types and formats: the `kubernetes-models` validators (JSON schemas from the Kubernetes OpenAPI;
 *    they catch a memory of "4Gb" or a string where an integer belongs), which accept unknown fields, so
 * 2. unknown fields: every object is walked with the field lists of the Kubernetes 1.32 types
 *    (`schemas/kubernetes-1.32-fields.json`, dumped from `@kubernetes/client-node` 1.1.x, which is
 *    generated from exactly 1.32), and any field those types do not declare is an error.
 *
 * Not checked (a real API server would): admission and defaulting, and the cross-field rules of the Go
 * validation code; the fleet rules restate the ones agent fleets trip over.
 */
import { readFileSync } from 'node:fs';
import { isObject, type Json, pointerToField } from './manifest';
import { KUBERNETES_FIELDS_FILE } from './schema-files';

/** One schema problem: the field (dotted path from the object root, empty for the object) and what is wrong. */
export interface SchemaProblem {
  readonly field: string;
  readonly message: string;
}

let models: Record<string, Record<string, string>> | undefined;
function fieldLists(): Record<string, Record<string, string>> {
  models ??= JSON.parse(readFileSync(KUBERNETES_FIELDS_FILE, 'utf8'));
  return models as Record<string, Record<string, string>>;
}

const PRIMITIVES = new Set(['string', 'number', 'boolean', 'Date', 'any', 'object', 'IntOrString']);

/** Model name for an apiVersion/kind: `batch/v1` + `Job` → `V1Job`. */
function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? apiVersion;
  return version.charAt(0).toUpperCase() + version.slice(1) + kind;
}

const join = (path: string, key: string) => (path === '' ? key : `${path}.${key}`);

function unknownFields(value: unknown, type: string, path: string, out: SchemaProblem[]): void {
  if (value === undefined || value === null || PRIMITIVES.has(type)) return;
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) unknownFields(item, array[1], `${path}[${i}]`, out);
    }
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (isObject(value))
      for (const [key, item] of Object.entries(value)) unknownFields(item, map[1], join(path, key), out);
    return;
  }
  const model = fieldLists()[type];
  // A type the field lists do not describe is left to the kubernetes-models validator.
  if (!model) return;
  if (!isObject(value)) {
    out.push({ field: path, message: `expected an object (${type})` });
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    const fieldType = model[key];
    if (fieldType === undefined) {
      out.push({ field: join(path, key), message: `unknown field "${key}" in ${type} (Kubernetes 1.32)` });
    } else unknownFields(item, fieldType, join(path, key), out);
  }
}

/** True for a core Kubernetes group (`v1`, `apps/v1`, `*.k8s.io/*`), false for a custom resource. */
export function isCoreKubernetesObject(obj: { apiVersion: string }): boolean {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion.split('/')[0] : '';
  return !group.includes('.') || group.endsWith('.k8s.io');
}

/** Whether Kubernetes 1.32 has this core apiVersion/kind. */
export function isKubernetesType(apiVersion: string, kind: string): boolean {
  return fieldLists()[modelName(apiVersion, kind)] !== undefined;
}

interface ValidatingModel {
  validate(): void;
}
interface ModelError {
  errors?: Array<{ instancePath: string; keyword: string; message?: string }>;
  message: string;
}

/** The `kubernetes-models` problems, one per field: a format or pattern error hides the type error of an int-or-string. */
function typeProblems(obj: Json): SchemaProblem[] {
  const group = obj.apiVersion.includes('/') ? obj.apiVersion : 'v1';
  let Model: new (data: unknown) => ValidatingModel;
  try {
    Model = require(`kubernetes-models/${group}/${obj.kind}`)[obj.kind];
  } catch {
    return [];
  }
  try {
    new Model(obj).validate();
    return [];
  } catch (error) {
    const errors = (error as ModelError).errors;
    if (!errors) return [{ field: '', message: (error as Error).message }];
    const relevant = errors.filter((e) => !['oneOf', 'anyOf', 'allOf', 'if'].includes(e.keyword));
    const specific = new Set(relevant.filter((e) => e.keyword !== 'type').map((e) => e.instancePath));
    return relevant
      .filter((e) => e.keyword !== 'type' || !specific.has(e.instancePath))
      .map((e) => ({ field: pointerToField(e.instancePath), message: e.message ?? e.keyword }));
  }
}

/** All schema problems of one core object; empty when it is valid Kubernetes 1.32. */
export function validateKubernetesObject(obj: Json): SchemaProblem[] {
  const name = modelName(obj.apiVersion, obj.kind);
  if (!fieldLists()[name]) {
    return [{ field: 'apiVersion', message: `${obj.apiVersion} ${obj.kind} is not a Kubernetes 1.32 type` }];
  }
  const problems: SchemaProblem[] = [];
  unknownFields(obj, name, '', problems);
  return [...problems, ...typeProblems(obj)];
}
