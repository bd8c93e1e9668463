/** Where the pods of an object are described: a Pod, a workload's template, a Job inside a CronJob or ScaledJob. */
import { isObject, type Json } from './manifest';

export interface PodTemplate {
  /** Dotted path of the pod spec inside the object, e.g. `spec.jobTargetRef.template.spec`. */
  readonly where: string;
  readonly spec: Json;
  /** The pods' labels and annotations (empty when the template has none). */
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  /** The Job spec around the template (Job, CronJob's jobTemplate, ScaledJob's jobTargetRef). */
  readonly job?: { readonly where: string; readonly spec: Json };
}

function metaOf(o: Json): { labels: Record<string, string>; annotations: Record<string, string> } {
  const meta = isObject(o.metadata) ? o.metadata : {};
  return {
    labels: isObject(meta.labels) ? meta.labels : {},
    annotations: isObject(meta.annotations) ? meta.annotations : {},
  };
}

function template(where: string, tpl: Json, job?: PodTemplate['job']): PodTemplate[] {
  if (!isObject(tpl) || !isObject(tpl.spec)) return [];
  return [{ where: `${where}.spec`, spec: tpl.spec, ...metaOf(tpl), job }];
}

/** The pod templates of one object (none for objects without pods). */
export function podTemplatesOf(obj: Json): PodTemplate[] {
  if (!isObject(obj) || !isObject(obj.spec)) return [];
  const spec = obj.spec;
  if (obj.kind === 'Pod') {
    return [{ where: 'spec', spec, ...metaOf(obj) }];
  }
  if (obj.kind === 'Job') return template('spec.template', spec.template, { where: 'spec', spec });
  if (obj.kind === 'CronJob' && isObject(spec.jobTemplate?.spec)) {
    const jobSpec = spec.jobTemplate.spec;
    return template('spec.jobTemplate.spec.template', jobSpec.template, {
      where: 'spec.jobTemplate.spec',
      spec: jobSpec,
    });
  }
  if (obj.kind === 'ScaledJob' && isObject(spec.jobTargetRef)) {
    return template('spec.jobTargetRef.template', spec.jobTargetRef.template, {
      where: 'spec.jobTargetRef',
      spec: spec.jobTargetRef,
    });
  }
  return template('spec.template', spec.template);
}

/** Every container of a pod spec with its path: init containers (native sidecars too), then containers. */
export function containersOf(t: PodTemplate): Array<{ at: string; container: Json }> {
  return ['initContainers', 'containers'].flatMap((list) =>
    (Array.isArray(t.spec[list]) ? t.spec[list] : [])
      .filter(isObject)
      .map((container: Json, i: number) => ({ at: `${t.where}.${list}[${i}]`, container })),
  );
}

/** A container's literal env values by name (`valueFrom` entries are not literals and are left out). */
export function literalEnv(container: Json): Map<string, { value: string; at: number }> {
  const out = new Map<string, { value: string; at: number }>();
  for (const [i, e] of (Array.isArray(container.env) ? container.env : []).entries()) {
    if (isObject(e) && typeof e.name === 'string' && typeof e.value === 'string')
      out.set(e.name, { value: e.value, at: i });
  }
  return out;
}

/** Whether the env (literal or from a source) names `name`. */
export function hasEnv(container: Json, name: string): boolean {
  return (Array.isArray(container.env) ? container.env : []).some(
    (e: Json) => isObject(e) && e.name === name,
  );
}

/** Whether `selector` (a LabelSelector) matches `labels`. An empty selector matches everything. */
export function selectorMatches(selector: Json, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false;
  for (const [k, v] of Object.entries(isObject(selector.matchLabels) ? selector.matchLabels : {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of Array.isArray(selector.matchExpressions) ? selector.matchExpressions : []) {
    if (!isObject(e)) return false;
    const has = Object.hasOwn(labels, e.key);
    const values: unknown[] = Array.isArray(e.values) ? e.values : [];
    const ok =
      e.operator === 'In'
        ? has && values.includes(labels[e.key])
        : e.operator === 'NotIn'
          ? !has || !values.includes(labels[e.key])
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}
