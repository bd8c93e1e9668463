import {
  ApiObject,
  ApiObjectMetadataDefinition,
  App,
  ImplicitTokenResolver,
  type JsonPatch,
  Lazy,
  LazyResolver,
  NumberStringUnionResolver,
} from 'cdk8s';
import { takeRendered } from './output-checks';

/** A generated L1 class (`cdk8s import`, cdk8s-plus's `k8s`). */
// biome-ignore lint/suspicious/noExplicitAny: the mixin pattern requires an any[] constructor
type L1Class = new (...args: any[]) => ApiObject;

/**
 * The L1 class `Base` with a cheaper `toJson()` and the same output, for the objects our
 * constructs write.
 *
 * A generated L1's `toJson()` first renders the object as any `ApiObject` does (resolve tokens,
 * drop undefined, sort keys, apply JSON patches), then converts that JSON again, field by field,
 * through its schema: every nested object is rebuilt in schema order (with a reduce that copies
 * the object once per defined field), fields the schema does not know are dropped, and
 * number-or-string unions (`IntOrString`, `Quantity`), which the resolver rendered as
 * `{ value }`, are unwrapped. That second pass is most of the synthesis cost of our objects.
 *
 * For the objects our constructs build it changes nothing but the unions: every field they write
 * is in the schema, and the generated schema order is the sorted order the first step produced
 * (both checked for the types used here: keda.sh and k8s imports list their fields sorted).
 * So this class unwraps the unions at `unionPaths` and skips the rest of the pass. It falls back
 * to the generated conversion whenever the first step could have produced something else: the
 * object was patched (`addJsonPatch` may add unknown fields or unsorted keys, which the
 * conversion drops or reorders), the app has custom resolvers, or `CDK8S_DISABLE_SORT` is set.
 *
 * The first step itself is done by `renderApiObject`, which produces what `ApiObject.toJson()`
 * does in one pass instead of cdk8s's two (see there).
 *
 * @param unionPaths every place where the construct may put a union, as dotted key paths; `[]`
 *   steps into each array element, `*` into each value of a map (whose values are all unions).
 */
export function withDirectJson<T extends L1Class>(Base: T, unionPaths: readonly string[]): T {
  const paths = unionPaths.map(parsePath);
  // biome-ignore lint/suspicious/noExplicitAny: see L1Class
  const cls = class extends (Base as new (...args: any[]) => ApiObject) {
    /** The generated class, for `generatedJson` (the tests compare both renderings). */
    static readonly [GENERATED] = Base;
    private patched = false;

    override addJsonPatch(...ops: JsonPatch[]): void {
      this.patched = true;
      super.addJsonPatch(...ops);
    }

    // biome-ignore lint/suspicious/noExplicitAny: ApiObject.toJson() returns any
    override toJson(): any {
      // Rendered by a synth-time check earlier in this synthesis: the same JSON.
      const handed = takeRendered(this);
      if (handed !== undefined) return handed;
      if (this.patched || process.env.CDK8S_DISABLE_SORT || !builtInResolversOnly(App.of(this))) {
        return super.toJson();
      }
      const json = renderApiObject(this) ?? ApiObject.prototype.toJson.call(this);
      for (const path of paths) unwrapUnions(json, path, 0);
      return json;
    }
  };
  return cls as unknown as T;
}

const GENERATED = Symbol('agent-fleet.generatedL1');

/**
 * The JSON the generated L1 conversion renders for `obj`, when `obj` was built by a
 * `withDirectJson` class; undefined otherwise. The lib tests check, for every object they
 * synthesize, that it equals `obj.toJson()` key for key and in the same order.
 */
export function generatedJson(obj: ApiObject): unknown | undefined {
  const Base = (obj.constructor as { [GENERATED]?: L1Class })[GENERATED];
  return Base === undefined ? undefined : Base.prototype.toJson.call(obj);
}

/**
 * Where `AgentPod.template()` puts number-or-string unions, relative to the pod template: resource
 * quantities and probe ports of the agent, its init containers and sidecars, the divisor of an env
 * value from `EnvValue.fromResource`, and an emptyDir's size limit. `affinity` has none; of the
 * volume types cdk8s-plus can build, only emptyDir holds one.
 */
export const POD_TEMPLATE_UNION_PATHS: readonly string[] = [
  ...['containers', 'initContainers'].flatMap((group) => [
    `spec.${group}[].resources.limits.*`,
    `spec.${group}[].resources.requests.*`,
    `spec.${group}[].env[].valueFrom.resourceFieldRef.divisor`,
  ]),
  'spec.containers[].readinessProbe.httpGet.port',
  'spec.initContainers[].startupProbe.httpGet.port',
  'spec.initContainers[].startupProbe.tcpSocket.port',
  'spec.volumes[].emptyDir.sizeLimit',
];

/** A key, or `EACH` (every array element), or `VALUES` (every value of a map). */
type Step = string;
const EACH = '[]';
const VALUES = '*';

function parsePath(path: string): Step[] {
  return path
    .split('.')
    .flatMap((part) => (part.endsWith(EACH) && part !== EACH ? [part.slice(0, -EACH.length), EACH] : [part]));
}

/**
 * Replaces each union at `path` by its `value`, as the generated conversion does: a union field
 * whose value is undefined is dropped (`'port': obj.port?.value`, then undefined fields are
 * filtered), a map of unions keeps every key (`{ ...r, [key]: value?.value }`).
 */
// biome-ignore lint/suspicious/noExplicitAny: walks rendered JSON
function unwrapUnions(node: any, path: readonly Step[], index: number): void {
  if (node === null || typeof node !== 'object') return;
  const step = path[index];
  const last = index === path.length - 1;
  if (step === EACH) {
    if (!Array.isArray(node)) return;
    for (const item of node) unwrapUnions(item, path, index + 1);
  } else if (step === VALUES) {
    for (const key of Object.keys(node)) {
      if (last) node[key] = node[key]?.value;
      else unwrapUnions(node[key], path, index + 1);
    }
  } else if (!last) {
    unwrapUnions(node[step], path, index + 1);
  } else if (node[step] !== undefined) {
    const value = node[step]?.value;
    if (value === undefined) delete node[step];
    else node[step] = value;
  }
}

/** Thrown inside `render` for a value whose rendering it leaves to cdk8s. */
const UNUSUAL = Symbol('agent-fleet.unusualValue');

/**
 * `sanitizeValue(resolve([], value, obj), options)` of cdk8s with its built-in resolvers only, in
 * one pass. cdk8s resolves every value through a resolution context, a key path array and a walk
 * up the construct tree to find the App's resolvers, then walks the result again to drop
 * undefined values and sort keys; for a chart of thousands of objects that was most of the
 * synthesis time. The built-in resolvers are applied in cdk8s's order (Lazy, then an implicit
 * token, then a number-or-string union) with the same tests. Anything that cdk8s would render
 * through its less common branches (an object that is neither a plain object nor an array nor a
 * token, a `__proto__` key) throws `UNUSUAL`, and the caller renders the object with cdk8s.
 */
// biome-ignore lint/suspicious/noExplicitAny: renders arbitrary prop values
function render(input: any, filterEmpty: boolean): any {
  let value = input;
  while (value != null) {
    if (value instanceof Lazy) value = value.produce();
    else if (typeof value.resolve === 'function') value = value.resolve();
    else if (
      value.constructor !== Object &&
      (typeof value.value === 'number' || typeof value.value === 'string')
    )
      value = { value: value.value };
    else break;
  }
  if (value == null) return undefined;
  if (typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    if (filterEmpty && value.length === 0) return undefined;
    return value.map((item) => render(item, filterEmpty));
  }
  if (value.constructor !== Object) throw UNUSUAL;
  const keys = Object.keys(value).sort();
  // biome-ignore lint/suspicious/noExplicitAny: rendered JSON
  const result: any = {};
  let kept = 0;
  for (const key of keys) {
    if (key === '__proto__') throw UNUSUAL;
    const rendered = render(value[key], filterEmpty);
    if (rendered != null) {
      result[key] = rendered;
      kept++;
    }
  }
  if (filterEmpty && kept === 0) return undefined;
  return result;
}

/** The fields of cdk8s's ApiObject and ApiObjectMetadataDefinition that `toJson()` reads. */
interface ApiObjectInternals {
  readonly props?: Record<string, unknown>;
  readonly patches?: readonly unknown[];
  readonly metadata: {
    readonly toJson: unknown;
    readonly _additionalAttributes?: Record<string, unknown>;
    readonly name?: string;
    readonly namespace?: string;
    readonly annotations?: unknown;
    readonly finalizers?: unknown;
    readonly ownerReferences?: unknown;
    readonly labels?: unknown;
  };
}

/**
 * What `ApiObject.prototype.toJson.call(obj)` returns, for an object without JSON patches in an
 * app with the built-in resolvers only and sorting on (the caller checks those); undefined when
 * cdk8s must render it (an unusual value, a rendering error, or a cdk8s whose internals differ),
 * so that the result, or the error and its message, is always cdk8s's own.
 */
// biome-ignore lint/suspicious/noExplicitAny: rendered JSON
export function renderApiObject(obj: ApiObject): any {
  const internals = obj as unknown as ApiObjectInternals;
  const meta = internals.metadata;
  if (
    internals.props === undefined ||
    internals.patches?.length !== 0 ||
    meta._additionalAttributes === undefined ||
    meta.toJson !== metadataToJson
  ) {
    return undefined;
  }
  try {
    // ApiObjectMetadataDefinition.toJson(): filters empty arrays and objects.
    const metadata = render(
      {
        ...meta._additionalAttributes,
        name: meta.name,
        namespace: meta.namespace,
        annotations: meta.annotations,
        finalizers: meta.finalizers,
        ownerReferences: meta.ownerReferences,
        labels: meta.labels,
      },
      true,
    );
    const json = render({ ...internals.props, metadata }, false);
    // ApiObject.toJson(): apiVersion, kind and metadata first, then the rest in sorted order.
    // biome-ignore lint/suspicious/noExplicitAny: rendered JSON
    const result: any = {};
    for (const key of ['apiVersion', 'kind', 'metadata', ...Object.keys(json)]) {
      if (key in json) result[key] = json[key];
    }
    return result;
  } catch {
    return undefined;
  }
}

const metadataToJson = ApiObjectMetadataDefinition.prototype.toJson;

/** True when the app resolves values with cdk8s's own resolvers only. */
function builtInResolversOnly(app: App): boolean {
  return app.resolvers.every(
    (r) =>
      r.constructor === LazyResolver ||
      r.constructor === ImplicitTokenResolver ||
      r.constructor === NumberStringUnionResolver,
  );
}
