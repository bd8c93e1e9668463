/** @agent-fleet/validate: schemas, Pod Security "restricted" and fleet rules for Kubernetes manifests. */
export {
  assertValidCustomResource,
  CRD_SCHEMA_DIR,
  type CustomResourceSchemaInfo,
  compileCustomResourceSchema,
  compileStructuralSchema,
  customResourceProblems,
  goRegExp,
  hasCustomResourceSchema,
  listCustomResourceSchemas,
  translateGoPattern,
  validateCustomResource,
} from './custom-resource-schema';
export { type FormatOptions, formatFindings } from './format';
export {
  isCoreKubernetesObject,
  isKubernetesType,
  type SchemaProblem,
  validateKubernetesObject,
} from './kubernetes-schema';
export { describeRef, type ObjectRef } from './manifest';
export {
  AgentFleetValidation,
  type AgentFleetValidationProps,
  type PluginContext,
  type PluginViolation,
} from './plugin';
export { restrictedViolations } from './pod-security';
export type { Rule, RuleHit, Severity } from './rule';
export { type ExpectValidOptions, expectValidManifests, type Synthesizable } from './testing';
export {
  type Finding,
  IGNORE_ANNOTATION,
  IGNORE_REASON_ANNOTATION,
  type Note,
  RULES,
  type SuppressedFinding,
  type ValidateOptions,
  type ValidationResult,
  validateManifests,
} from './validate';
export { type PodTemplate, podTemplatesOf } from './workloads';
