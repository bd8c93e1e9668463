/**
 * Checks, at synth time, what an agent pod takes from Secrets and ConfigMaps that the same chart
 * defines: the keys it references must exist, and the values it reads must not be credentials
 * written as literals in the chart (they would sit in the synthesized manifest, in git and in CI
 * logs). Objects the chart does not define (pre-created, or synced by External Secrets) cannot be
 * seen and are not checked.
 *
 * The pod is read as rendered, so every way a pod spec can reference an object counts: env
 * `secretKeyRef`/`configMapKeyRef`, `envFrom`, `secret`/`configMap` volumes (and projected ones),
 * in the agent container and in every sidecar and init container.
 */
import { carriesCredential, describeCredential, Env, findCredentials } from '@agent-fleet/contract';
import { ApiObject, Chart } from 'cdk8s';
import type { IConstruct } from 'constructs';
import { addOutputCheck, type Render } from './output-checks';
import { invalid } from './validation';

/** One reference from a pod spec to a Secret or ConfigMap. */
export interface ObjectReference {
  readonly kind: 'Secret' | 'ConfigMap';
  readonly name: string;
  /** The keys read; undefined when the whole object is read (envFrom, a volume without items). */
  readonly keys?: readonly string[];
  /** `optional: true`: a missing object or key is not an error in Kubernetes. */
  readonly optional: boolean;
  /** Where in the pod spec, e.g. `containers[agent].env[LLM_API_KEY]`. */
  readonly where: string;
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Every Secret and ConfigMap reference of a rendered pod spec. */
export function podReferences(podSpec: Json): ObjectReference[] {
  const refs: ObjectReference[] = [];
  const containers = [
    ...list(podSpec.initContainers).map((c) => ({ c, group: 'initContainers' })),
    ...list(podSpec.containers).map((c) => ({ c, group: 'containers' })),
  ];
  for (const { c, group } of containers) {
    const at = `${group}[${str(c.name) ?? '?'}]`;
    for (const e of list(c.env)) {
      const from = isObj(e.valueFrom) ? e.valueFrom : {};
      for (const [field, kind] of [
        ['secretKeyRef', 'Secret'],
        ['configMapKeyRef', 'ConfigMap'],
      ] as const) {
        const ref = from[field];
        if (isObj(ref) && str(ref.name) !== undefined && str(ref.key) !== undefined) {
          refs.push({
            kind,
            name: ref.name as string,
            keys: [ref.key as string],
            optional: ref.optional === true,
            where: `${at}.env[${str(e.name) ?? '?'}]`,
          });
        }
      }
    }
    list(c.envFrom).forEach((e, i) => {
      for (const [field, kind] of [
        ['secretRef', 'Secret'],
        ['configMapRef', 'ConfigMap'],
      ] as const) {
        const ref = e[field];
        if (isObj(ref) && str(ref.name) !== undefined) {
          refs.push({
            kind,
            name: ref.name as string,
            optional: ref.optional === true,
            where: `${at}.envFrom[${i}]`,
          });
        }
      }
    });
  }
  for (const v of list(podSpec.volumes)) {
    const at = `volumes[${str(v.name) ?? '?'}]`;
    const sources: Array<{ kind: 'Secret' | 'ConfigMap'; src: Json; name?: string }> = [];
    if (isObj(v.secret)) sources.push({ kind: 'Secret', src: v.secret, name: str(v.secret.secretName) });
    if (isObj(v.configMap))
      sources.push({ kind: 'ConfigMap', src: v.configMap, name: str(v.configMap.name) });
    if (isObj(v.projected)) {
      for (const s of list(v.projected.sources)) {
        if (isObj(s.secret)) sources.push({ kind: 'Secret', src: s.secret, name: str(s.secret.name) });
        if (isObj(s.configMap))
          sources.push({ kind: 'ConfigMap', src: s.configMap, name: str(s.configMap.name) });
      }
    }
    for (const { kind, src, name } of sources) {
      if (name === undefined) continue;
      const items = list(src.items).flatMap((item) =>
        str(item.key) === undefined ? [] : [item.key as string],
      );
      refs.push({
        kind,
        name,
        keys: items.length > 0 ? items : undefined,
        optional: src.optional === true,
        where: at,
      });
    }
  }
  return refs;
}

/** A Secret or ConfigMap as the chart defines it: its namespace and its data, decoded. */
interface DefinedObject {
  readonly namespace?: string;
  readonly data: ReadonlyMap<string, string>;
}

/** Per chart, its Secrets and ConfigMaps as `definedObjects` last found them in this validation pass. */
const definedPerChart = new WeakMap<Chart, Map<string, DefinedObject[]>>();
/** Charts whose validations drop their entry of `definedPerChart`. */
const resetPerPass = new WeakSet<Chart>();

/**
 * The Secrets and ConfigMaps the chart of `scope` defines, by kind and name. Every agent workload
 * checks its references against them at synth time; walking the whole chart once per workload made
 * a chart of N fleets cost N² visits, so the walk is done once per validation pass and shared.
 * cdk8s validates in pre-order, the chart before anything in it, and the chart's own validation
 * (added on first use) drops the shared result: each pass sees the chart as it is then. The result
 * is also dropped once the current synchronous run ends, for a workload validated on its own.
 */
function definedObjects(scope: IConstruct): Map<string, DefinedObject[]> {
  const chart = Chart.of(scope);
  if (!resetPerPass.has(chart)) {
    resetPerPass.add(chart);
    chart.node.addValidation({
      validate: () => {
        definedPerChart.delete(chart);
        return [];
      },
    });
  }
  const known = definedPerChart.get(chart);
  if (known !== undefined) return known;
  const found = scanDefinedObjects(chart);
  definedPerChart.set(chart, found);
  queueMicrotask(() => definedPerChart.delete(chart));
  return found;
}

function scanDefinedObjects(chart: Chart): Map<string, DefinedObject[]> {
  const found = new Map<string, DefinedObject[]>();
  for (const c of chart.node.findAll()) {
    if (!(c instanceof ApiObject) || (c.kind !== 'Secret' && c.kind !== 'ConfigMap')) continue;
    const json = c.toJson() as Json;
    const data = new Map<string, string>();
    for (const [key, value] of Object.entries(isObj(json.stringData) ? json.stringData : {})) {
      data.set(key, String(value));
    }
    for (const [key, value] of Object.entries(isObj(json.data) ? json.data : {})) {
      // A Secret's `data` is base64; a ConfigMap's is plain text.
      data.set(
        key,
        c.kind === 'Secret' ? Buffer.from(String(value), 'base64').toString('utf8') : String(value),
      );
    }
    for (const key of Object.keys(isObj(json.binaryData) ? json.binaryData : {})) data.set(key, '');
    const entry = { namespace: c.metadata.namespace, data };
    const id = `${c.kind}/${c.name}`;
    found.set(id, [...(found.get(id) ?? []), entry]);
  }
  return found;
}

/**
 * Throws, naming the reference, when a referenced object that the chart defines lacks a referenced
 * key, or holds a credential-shaped literal where the pod reads it.
 * @param namespace the workload's namespace (objects of another namespace are another object)
 * @param propFor the construct prop behind a reference, for the message (e.g. `queue`)
 */
export function checkChartReferences(
  scope: IConstruct,
  references: readonly ObjectReference[],
  namespace: string | undefined,
  propFor: (ref: ObjectReference) => string = (ref) => ref.where,
): void {
  const defined = definedObjects(scope);
  for (const ref of references) {
    // Same name in another namespace is another object.
    const object = (defined.get(`${ref.kind}/${ref.name}`) ?? []).find((o) => o.namespace === namespace);
    if (object === undefined) continue;
    const prop = propFor(ref);
    const missing = (ref.keys ?? []).filter((k) => !object.data.has(k));
    if (missing.length > 0 && !ref.optional) {
      const known = [...object.data.keys()];
      invalid(
        scope,
        prop,
        missing[0],
        `references key "${missing[0]}" of ${ref.kind} "${ref.name}", which this chart defines ` +
          (known.length > 0 ? `with the keys ${known.map((k) => `"${k}"`).join(', ')}` : 'with no data'),
        known.length > 0
          ? `use one of those keys, or add "${missing[0]}" to the ${ref.kind}`
          : `add "${missing[0]}" to the ${ref.kind}`,
      );
    }
    for (const key of ref.keys ?? [...object.data.keys()]) {
      const value = object.data.get(key);
      if (value === undefined || !carriesCredential(value)) continue;
      const kind = findCredentials(value)[0]?.kind;
      invalid(
        scope,
        prop,
        `${ref.kind} "${ref.name}" key "${key}"`,
        `reads ${kind === undefined ? 'a credential' : describeCredential(kind)} that this chart writes as a ` +
          'literal, so it would be in the synthesized manifest (and in git and CI logs)',
        `keep the value out of the chart: create the ${ref.kind === 'Secret' ? 'Secret' : 'Secret (not a ConfigMap)'} ` +
          'outside it (External Secrets, Sealed Secrets, or kubectl in your pipeline) and reference it by name, ' +
          `e.g. Secret.fromSecretName(this, 'Llm', '${ref.name}')`,
      );
    }
  }
}

/** The agent construct's prop behind a reference of its pod spec. */
function agentPropFor(ref: ObjectReference): string {
  const env = /^containers\[agent\]\.env\[(.+)\]$/.exec(ref.where);
  if (env) return env[1] === Env.TASK_QUEUE_URL ? 'queue' : `env.${env[1]}`;
  const envFrom = /^containers\[agent\]\.(envFrom\[\d+\])$/.exec(ref.where);
  if (envFrom) return envFrom[1] as string;
  return ref.where;
}

/**
 * Registers the synth-time check of {@link checkChartReferences} on an agent workload, whose pod
 * template sits at `templatePath` in `apiObject`'s manifest. At synth time, so that Secrets and
 * ConfigMaps added to the chart after the workload are seen too. `more` gives further references
 * (read from objects rendered with the `render` it is passed).
 */
export function checkAgentPodReferences(
  scope: IConstruct,
  apiObject: ApiObject,
  templatePath: readonly string[],
  more: (render: Render) => readonly ObjectReference[] = () => [],
): void {
  addOutputCheck(scope, (render) => {
    let node: unknown = render(apiObject);
    for (const key of [...templatePath, 'spec']) node = isObj(node) ? node[key] : undefined;
    const references = [...(isObj(node) ? podReferences(node) : []), ...more(render)];
    checkChartReferences(scope, references, apiObject.metadata.namespace, agentPropFor);
  });
}

/** The Secret keys a KEDA TriggerAuthentication reads (`spec.secretTargetRef`). */
export function triggerAuthenticationReferences(
  triggerAuthentication: ApiObject,
  render: Render = (obj) => obj.toJson(),
): ObjectReference[] {
  const rendered = render(triggerAuthentication);
  const spec = isObj(rendered) ? rendered.spec : undefined;
  return list(isObj(spec) ? spec.secretTargetRef : undefined).flatMap((ref) =>
    str(ref.name) === undefined || str(ref.key) === undefined
      ? []
      : [
          {
            kind: 'Secret' as const,
            name: ref.name as string,
            keys: [ref.key as string],
            optional: false,
            where: `triggers auth (${str(ref.parameter) ?? '?'})`,
          },
        ],
  );
}
