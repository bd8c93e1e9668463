/** What the validator reads: untyped JSON objects, as parsed from YAML or synthesized by cdk8s. */

// biome-ignore lint/suspicious/noExplicitAny: manifests are free-form JSON
export type Json = any;

/** Which object a finding or note is about. */
export interface ObjectRef {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly namespace?: string;
  /** Position in the list given to `validateManifests` (0-based). */
  readonly index: number;
}

export const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function refOf(obj: Json, index: number): ObjectRef {
  const o = isObject(obj) ? obj : {};
  const meta = isObject(o.metadata) ? o.metadata : {};
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    apiVersion: str(o.apiVersion),
    kind: str(o.kind),
    name: str(meta.name),
    namespace: str(meta.namespace),
    index,
  };
}

/** `Job agents/batch`, `ScaledJob workers`, `object #3` when it has no kind. */
export function describeRef(ref: ObjectRef): string {
  const name = ref.name ? `${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}` : `#${ref.index}`;
  return `${ref.kind ?? 'object'} ${name}`;
}

/** `/spec/template/0/x` (JSON pointer) → `spec.template[0].x`. */
export function pointerToField(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(part) ? `[${part}]` : out === '' ? part : `.${part}`;
  }
  return out;
}

/** A value for a message: short, quoted JSON. */
export function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
