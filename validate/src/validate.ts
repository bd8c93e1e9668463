/** `validateManifests`: every rule over a list of objects, with rule selection and per-object suppression. */
import { describeRef, isObject, type Json, type ObjectRef, refOf } from './manifest';
import { type Rule, RuleContext, type RuleHit, type Severity } from './rule';
import { BATCH_RULES } from './rules/batch';
import { KEDA_RULES } from './rules/keda';
import { NETWORK_RULES } from './rules/network';
import { OBSERVABILITY_RULES } from './rules/observability';
import { schema, schemaSkipReason } from './rules/schema';
import { WORKLOAD_RULES } from './rules/workload';

/** Annotation on an object: rule ids not to report for it, e.g. `AF101,AF205`. */
export const IGNORE_ANNOTATION = 'agent-fleet.dev/ignore';
/** Annotation required next to {@link IGNORE_ANNOTATION}: why the rules do not apply. */
export const IGNORE_REASON_ANNOTATION = 'agent-fleet.dev/ignore-reason';

const suppression: Rule = {
  id: 'AF002',
  severity: 'error',
  title: `An ${IGNORE_ANNOTATION} annotation has no reason or names an unknown rule`,
  fix: `give the reason in the ${IGNORE_REASON_ANNOTATION} annotation and list existing rule ids only`,
  source: 'docs/validation-rules.md#suppressing-a-rule',
  check: (obj) => parseIgnore(obj).problems,
};

/** Every rule, by id. AF002 (the suppression rule) cannot itself be suppressed. */
export const RULES: readonly Rule[] = [
  schema,
  suppression,
  ...WORKLOAD_RULES,
  ...BATCH_RULES,
  ...KEDA_RULES,
  ...NETWORK_RULES,
  ...OBSERVABILITY_RULES,
];

const RULE_IDS = new Set(RULES.map((r) => r.id));

export interface Finding {
  /** Rule id, e.g. `AF102`. */
  readonly rule: string;
  readonly severity: Severity;
  readonly object: ObjectRef;
  /** Dotted path of the offending field from the object root (empty: the whole object). */
  readonly field: string;
  /** One line naming the object and the field. */
  readonly message: string;
  readonly fix: string;
}

export interface SuppressedFinding extends Finding {
  /** The object's {@link IGNORE_REASON_ANNOTATION}. */
  readonly reason: string;
}

/** Something the validator could not check, e.g. a custom resource without a shipped schema. */
export interface Note {
  readonly object: ObjectRef;
  readonly message: string;
}

export interface ValidationResult {
  /** What to fix, sorted by object, then rule, then field. */
  readonly findings: readonly Finding[];
  /** Findings an object's ignore annotation silenced, with its reason. */
  readonly suppressed: readonly SuppressedFinding[];
  readonly notes: readonly Note[];
  readonly errors: number;
  readonly warnings: number;
}

export interface ValidateOptions {
  /** Run only these rules. @default every rule */
  readonly rules?: readonly string[];
  /** Do not run these rules. @default none */
  readonly skip?: readonly string[];
}

function parseIgnore(obj: Json): { ids: string[]; reason?: string; problems: RuleHit[] } {
  const annotations = isObject(obj?.metadata?.annotations) ? obj.metadata.annotations : {};
  const raw: unknown = annotations[IGNORE_ANNOTATION];
  if (raw === undefined) return { ids: [], problems: [] };
  const field = `metadata.annotations.${IGNORE_ANNOTATION}`;
  const ids = String(raw)
    .split(/[\s,]+/)
    .filter((id) => id !== '');
  const problems: RuleHit[] = ids
    .filter((id) => !RULE_IDS.has(id) || id === suppression.id)
    .map((id) => ({ field, message: `names ${id}, which is not a rule that can be ignored` }));
  const reasonText: unknown = annotations[IGNORE_REASON_ANNOTATION];
  const reason = typeof reasonText === 'string' && reasonText.trim() !== '' ? reasonText.trim() : undefined;
  if (!reason) {
    problems.push({
      field,
      message: `ignores ${ids.join(', ') || 'nothing'} without a reason in ${IGNORE_REASON_ANNOTATION}, so nothing is ignored`,
    });
  }
  return { ids: reason ? ids : [], reason, problems };
}

function selectRules(options: ValidateOptions): Rule[] {
  for (const id of [...(options.rules ?? []), ...(options.skip ?? [])]) {
    if (!RULE_IDS.has(id))
      throw new Error(`validateManifests: no rule ${id} (known: ${[...RULE_IDS].join(', ')})`);
  }
  const only = options.rules ? new Set(options.rules) : undefined;
  const skip = new Set(options.skip ?? []);
  return RULES.filter((r) => (only ? only.has(r.id) : true) && !skip.has(r.id));
}

/**
 * Validates Kubernetes objects (parsed YAML or `Testing.synth(chart)`): schemas, Pod Security
 * "restricted" and the fleet rules. Objects of kinds without a shipped schema are noted, not rejected;
 * a rule that cannot read an object adds a note instead of throwing.
 */
export function validateManifests(
  objects: readonly unknown[],
  options: ValidateOptions = {},
): ValidationResult {
  const rules = selectRules(options);
  const context = new RuleContext(objects);
  const findings: Finding[] = [];
  const suppressed: SuppressedFinding[] = [];
  const notes: Note[] = [];

  objects.forEach((obj, index) => {
    const ref = refOf(obj, index);
    const where = describeRef(ref);
    const skipped = schemaSkipReason(obj);
    if (skipped && rules.includes(schema)) notes.push({ object: ref, message: `${where}: ${skipped}` });
    const ignore = parseIgnore(obj);
    const isKubernetesObject = isObject(obj) && typeof obj.kind === 'string';
    for (const rule of rules) {
      if (!isKubernetesObject && rule !== schema) continue;
      let hits: RuleHit[];
      try {
        hits = rule.check(obj, context);
      } catch (error) {
        notes.push({
          object: ref,
          message: `${where}: ${rule.id} could not read it (${(error as Error).message})`,
        });
        continue;
      }
      for (const hit of hits) {
        const separator = rule === schema && hit.field !== '' ? ':' : '';
        const finding: Finding = {
          rule: rule.id,
          severity: rule.severity,
          object: ref,
          field: hit.field,
          message: `${where}: ${hit.field}${separator}${hit.field === '' ? '' : ' '}${hit.message}`,
          fix: hit.fix ?? rule.fix,
        };
        if (ignore.reason && ignore.ids.includes(rule.id))
          suppressed.push({ ...finding, reason: ignore.reason });
        else findings.push(finding);
      }
    }
  });

  findings.sort(
    (a, b) =>
      a.object.index - b.object.index ||
      a.rule.localeCompare(b.rule) ||
      a.field.localeCompare(b.field) ||
      a.message.localeCompare(b.message),
  );
  return {
    findings,
    suppressed,
    notes,
    errors: findings.filter((f) => f.severity === 'error').length,
    warnings: findings.filter((f) => f.severity === 'warning').length,
  };
}
