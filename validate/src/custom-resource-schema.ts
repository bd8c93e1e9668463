/**
 * Validates synthesized custom resources (KEDA, prometheus-operator) against the `openAPIV3Schema` of
 * their CRD, as the API server would on `kubectl apply` with strict field validation.
 *
 * The schemas ship in this package (`schemas/crds/*.json`, written by the repository's
 * `scripts/extract-crd-schemas.js` during `npm run import`), so nothing needs the raw CRD YAML.
 *
 * How the Kubernetes structural-schema dialect is mapped onto JSON Schema (ajv 8):
 * - `x-kubernetes-int-or-string: true` → `type: ['integer', 'string']` (the redundant
 *   `anyOf: [{type: integer}, {type: string}]` next to it is dropped, which keeps errors to one line).
 *   A `pattern` next to it applies to the string form only, as in Kubernetes.
 * - Unknown fields: every object schema that is not `x-kubernetes-preserve-unknown-fields: true` and
 *   does not define `additionalProperties` itself gets `additionalProperties: false`. This includes an
 *   object schema without `properties` (Kubernetes prunes every field of such an object, and strict
 *   field validation reports them). Not applied inside `anyOf`/`allOf`/`oneOf`/`not` branches, which in a
 *   structural schema only restate constraints on fields declared outside them.
 * - `x-kubernetes-preserve-unknown-fields: true` → declared properties are validated, anything else is
 *   accepted (a schema without `type` accepts any value).
 * - `x-kubernetes-embedded-resource: true` → `apiVersion`, `kind` and `metadata` are implicitly allowed.
 * - `x-kubernetes-list-type: set` → items must be unique; `x-kubernetes-list-type: map` → no two items
 *   may share the values of the `x-kubernetes-list-map-keys` (a missing key takes the key field's
 *   `default`, as the API server does before checking). `atomic` has no validation effect.
 * - `nullable: true` is ajv's native OpenAPI support (null is accepted).
 * - `x-kubernetes-map-type`, `x-kubernetes-validations` and any other `x-kubernetes-*` keyword are
 *   accepted and ignored. **CEL rules (`x-kubernetes-validations`) are NOT checked**: an object that
 *   passes here can still be rejected by the API server's CEL validation.
 * - Go's inline regexp flags (`(?i)` and also `(?m)`/`(?s)`; in our CRDs only PrometheusRule's
 *   `partial_response_strategy: ^(?i)(abort|warn)?$`, none in KEDA 2.16.1), which JavaScript rejects: patterns are compiled through ajv's
 *   `code.regExp` hook (a RegExp factory used for every `pattern`/`patternProperties`), which strips
 *   the flag groups and passes the equivalent JavaScript flags instead. The schema itself keeps the
 *   original Go pattern, so error messages quote what the CRD says. The flag applies to the whole
 *   pattern: exact for a leading flag group (after an optional `^`, the only form in our CRDs), looser than
 *   Go if a flag group appears after case-sensitive text or as a scoped `(?i:...)` group.
 * - `format`: `int32` and `int64` are checked as integer ranges (the controller would fail to decode an
 *   out-of-range number), `date-time` (RFC 3339), `byte` (base64), `date`, `uuid`, `ipv4` are checked
 *   with simple regular expressions; any other format is accepted unchecked (as the API server does for
 *   formats it does not know). `ajv-formats` is not a dependency of this package, so it is not used.
 * - Top level: `apiVersion` and `kind` must equal the schema's; `metadata` (the CRD says only
 *   `type: object`; the API server validates ObjectMeta itself) must be an object with a DNS-subdomain
 *   `name`, string-map `labels` (label-value syntax) and `annotations`, and only ObjectMeta field names.
 *   Other top-level fields must be declared by the CRD schema (`spec`, `status`, ...).
 *
 * Not checked: CEL rules; `default`s are not applied (the API server defaults before validating, so a
 * `required` field that has a `default` would be reported missing here); immutability/transition rules; the full ObjectMeta rules (label
 * key syntax, annotation size, `generateName` instead of `name`), and anything a controller or admission
 * webhook validates beyond the schema.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject, type KeywordDefinition, type ValidateFunction } from 'ajv';
import type { SchemaProblem } from './kubernetes-schema';
import { pointerToField } from './manifest';
import { CRD_SCHEMA_DIR, SCHEMA_ROOT } from './schema-files';

export { CRD_SCHEMA_DIR };

/** One committed schema file: the `apiVersion`/`kind` it validates and the CRD it was extracted from. */
export interface CustomResourceSchemaInfo {
  readonly apiVersion: string;
  readonly kind: string;
  /** `<crd folder>/<file>` the schema was extracted from. */
  readonly source: string;
  /** Absolute path of the JSON file. */
  readonly file: string;
}

type JsonObject = { [key: string]: unknown };

interface SchemaFile extends CustomResourceSchemaInfo {
  readonly schema: JsonObject;
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const keyOf = (apiVersion: string, kind: string): string => `${apiVersion}\u0000${kind}`;

// ---------------------------------------------------------------------------------------------------------
// Schema index (lazy) and validator cache
// ---------------------------------------------------------------------------------------------------------

let index: Map<string, SchemaFile> | undefined;
const validators = new Map<string, ValidateFunction>();

function schemaIndex(): Map<string, SchemaFile> {
  if (index) return index;
  if (!fs.existsSync(CRD_SCHEMA_DIR)) {
    throw new Error(`CRD schema directory ${CRD_SCHEMA_DIR} does not exist (a broken install?)`);
  }
  const result = new Map<string, SchemaFile>();
  for (const name of fs.readdirSync(CRD_SCHEMA_DIR).sort()) {
    if (!name.endsWith('.json')) continue;
    const file = path.join(CRD_SCHEMA_DIR, name);
    const doc: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (
      !isObject(doc) ||
      typeof doc.apiVersion !== 'string' ||
      typeof doc.kind !== 'string' ||
      !isObject(doc.schema)
    ) {
      throw new Error(`${file}: expected { apiVersion, kind, source, schema }`);
    }
    const key = keyOf(doc.apiVersion, doc.kind);
    const previous = result.get(key);
    if (previous)
      throw new Error(`${doc.apiVersion} ${doc.kind} is defined twice: ${previous.file} and ${file}`);
    result.set(key, {
      apiVersion: doc.apiVersion,
      kind: doc.kind,
      source: typeof doc.source === 'string' ? doc.source : '(unknown)',
      file,
      schema: doc.schema,
    });
  }
  index = result;
  return result;
}

/** Every apiVersion/kind that has a committed schema, sorted by file name. */
export function listCustomResourceSchemas(): CustomResourceSchemaInfo[] {
  return [...schemaIndex().values()].map(({ apiVersion, kind, source, file }) => ({
    apiVersion,
    kind,
    source,
    file,
  }));
}

/** Whether a CRD schema ships for this apiVersion/kind. */
export function hasCustomResourceSchema(apiVersion: string, kind: string): boolean {
  return schemaIndex().has(keyOf(apiVersion, kind));
}

function lookup(apiVersion: string, kind: string): SchemaFile {
  const found = schemaIndex().get(keyOf(apiVersion, kind));
  if (found) return found;
  const known = [...schemaIndex().values()].map((s) => `${s.apiVersion} ${s.kind}`).join(', ');
  throw new Error(
    `No CRD schema for apiVersion "${apiVersion}", kind "${kind}" in ${CRD_SCHEMA_DIR}. Known: ${known}. ` +
      '(Built-in Kubernetes kinds are not covered by this validator.)',
  );
}

/**
 * The compiled (and cached) ajv validator for an apiVersion/kind. Throws if there is no schema for it, or
 * if the schema does not compile.
 */
export function compileCustomResourceSchema(apiVersion: string, kind: string): ValidateFunction {
  const key = keyOf(apiVersion, kind);
  const cached = validators.get(key);
  if (cached) return cached;
  const { schema, file } = lookup(apiVersion, kind);
  let validate: ValidateFunction;
  try {
    validate = ajv().compile(toAjvRootSchema(schema, apiVersion, kind));
  } catch (error) {
    throw new Error(`${file}: schema does not compile: ${(error as Error).message}`);
  }
  validators.set(key, validate);
  return validate;
}

/**
 * Compiles a bare structural schema (a CRD's `openAPIV3Schema` or any node of one) with the same
 * Kubernetes rules, without the top-level apiVersion/kind/metadata handling. Not cached; for tests of the
 * rules themselves.
 */
export function compileStructuralSchema(schema: object): ValidateFunction {
  return ajv().compile(toAjvSchema(schema as JsonObject, false));
}

// ---------------------------------------------------------------------------------------------------------
// Validation API
// ---------------------------------------------------------------------------------------------------------

/**
 * Validates one custom resource (a plain object, e.g. from `Testing.synth(chart)` or
 * `ScaledJob.manifest({...})`) against its CRD schema, chosen by `apiVersion` + `kind`. The object's JSON
 * form is validated (keys whose value is `undefined` count as absent).
 *
 * @returns one message per problem, sorted, `<JSON pointer>: <message>` (e.g.
 *   `/spec/jobTargetRef/parallelism: must be integer`, `/spec/foo: unknown field "foo"`); empty when valid.
 * @throws when the object has no string `apiVersion`/`kind`, or there is no schema for them.
 *
 * CEL rules (`x-kubernetes-validations`) are NOT checked; see the module comment for what is.
 */
export function validateCustomResource(obj: unknown): string[] {
  return customResourceErrors(obj)
    .map(({ pointer, message }) => `${pointer}: ${message}`)
    .sort();
}

/**
 * The same problems as {@link validateCustomResource}, each with its field as a dotted path
 * (`spec.triggers[0].metadata`), for findings.
 */
export function customResourceProblems(obj: unknown): SchemaProblem[] {
  return customResourceErrors(obj).map(({ pointer, message }) => ({
    field: pointerToField(pointer === '/' ? '' : pointer),
    message,
  }));
}

function customResourceErrors(obj: unknown): PointerError[] {
  if (!isObject(obj)) {
    throw new Error(`validateCustomResource: expected a Kubernetes object, got ${JSON.stringify(obj)}`);
  }
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new Error(
      `validateCustomResource: object has no string apiVersion/kind (apiVersion=${JSON.stringify(apiVersion)}, kind=${JSON.stringify(kind)})`,
    );
  }
  const validate = compileCustomResourceSchema(apiVersion, kind);
  // Validate what would be written to YAML: keys whose value is undefined disappear, as in the manifest.
  if (validate(JSON.parse(JSON.stringify(obj)))) return [];
  // Sorted (by path, then message) so the output reads like a list and does not depend on schema order.
  return (validate.errors ?? [])
    .map(formatError)
    .sort((a, b) =>
      a.pointer === b.pointer ? a.message.localeCompare(b.message) : a.pointer < b.pointer ? -1 : 1,
    );
}

/**
 * Throws an Error listing every schema violation (with JSON pointers) if `obj` is not valid; see
 * {@link validateCustomResource}.
 */
export function assertValidCustomResource(obj: unknown): void {
  const errors = validateCustomResource(obj);
  if (errors.length === 0) return;
  const { apiVersion, kind, metadata } = obj as JsonObject;
  const name = isObject(metadata) && typeof metadata.name === 'string' ? ` "${metadata.name}"` : '';
  const { file } = lookup(apiVersion as string, kind as string);
  throw new Error(
    `${kind}${name} (${apiVersion}) does not match its CRD schema (${path.relative(path.dirname(SCHEMA_ROOT), file)}):\n` +
      errors.map((e) => `  - ${e}`).join('\n'),
  );
}

interface PointerError {
  readonly pointer: string;
  readonly message: string;
}

function formatError(error: ErrorObject): PointerError {
  const at = error.instancePath;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return {
        pointer: `${at}/${escapePointer(String(params.additionalProperty))}`,
        message: `unknown field "${params.additionalProperty}"`,
      };
    case 'required':
      return {
        pointer: `${at}/${escapePointer(String(params.missingProperty))}`,
        message: 'required field is missing',
      };
    case 'enum':
      return { pointer: at || '/', message: `must be one of ${JSON.stringify(params.allowedValues)}` };
    case 'const':
      return { pointer: at || '/', message: `must be ${JSON.stringify(params.allowedValue)}` };
    default:
      return { pointer: at || '/', message: error.message ?? error.keyword };
  }
}

const escapePointer = (segment: string): string => segment.replace(/~/g, '~0').replace(/\//g, '~1');

// ---------------------------------------------------------------------------------------------------------
// Kubernetes structural schema → ajv schema
// ---------------------------------------------------------------------------------------------------------

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = `^${DNS_LABEL}(\\.${DNS_LABEL})*$`;

/** A deliberately small ObjectMeta schema: the CRD only says `metadata: {type: object}`. */
const OBJECT_META: JsonObject = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 253, pattern: DNS_SUBDOMAIN },
    generateName: { type: 'string' },
    namespace: { type: 'string', minLength: 1, maxLength: 63, pattern: `^${DNS_LABEL}$` },
    labels: {
      type: 'object',
      additionalProperties: {
        type: 'string',
        maxLength: 63,
        pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$',
      },
    },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    ownerReferences: { type: 'array', items: { type: 'object' } },
    finalizers: { type: 'array', items: { type: 'string' } },
    uid: { type: 'string' },
    resourceVersion: { type: 'string' },
    generation: { type: 'integer' },
    selfLink: { type: 'string' },
    creationTimestamp: { type: ['string', 'null'] },
    deletionTimestamp: { type: 'string' },
    deletionGracePeriodSeconds: { type: 'integer' },
    managedFields: { type: 'array', items: { type: 'object' } },
  },
};

const VALUE_VALIDATION_BRANCHES = ['anyOf', 'allOf', 'oneOf'] as const;

function toAjvRootSchema(crdSchema: JsonObject, apiVersion: string, kind: string): JsonObject {
  const root = toAjvSchema(crdSchema, false);
  const properties = isObject(root.properties) ? { ...root.properties } : {};
  properties.apiVersion = { type: 'string', const: apiVersion };
  properties.kind = { type: 'string', const: kind };
  properties.metadata = OBJECT_META;
  const required = Array.isArray(root.required) ? (root.required as string[]) : [];
  return {
    ...root,
    type: 'object',
    properties,
    required: [...new Set(['apiVersion', 'kind', 'metadata', ...required])],
    ...(crdSchema['x-kubernetes-preserve-unknown-fields'] === true ? {} : { additionalProperties: false }),
  };
}

/**
 * Rewrites one structural-schema node (recursively) into plain JSON Schema ajv understands. The input is
 * not modified. `inBranch` is true inside anyOf/allOf/oneOf/not, where no unknown-field rule is added.
 */
function toAjvSchema(node: JsonObject, inBranch: boolean): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, sub]) => [name, isObject(sub) ? toAjvSchema(sub, false) : sub]),
      );
    } else if (key === 'items' && isObject(value)) {
      out.items = toAjvSchema(value, false);
    } else if (key === 'items' && Array.isArray(value)) {
      out.items = value.map((sub) => (isObject(sub) ? toAjvSchema(sub, false) : sub));
    } else if (key === 'additionalProperties' && isObject(value)) {
      out.additionalProperties = toAjvSchema(value, false);
    } else if ((VALUE_VALIDATION_BRANCHES as readonly string[]).includes(key) && Array.isArray(value)) {
      out[key] = value.map((sub) => (isObject(sub) ? toAjvSchema(sub, true) : sub));
    } else if (key === 'not' && isObject(value)) {
      out.not = toAjvSchema(value, true);
    } else if (
      key.startsWith('x-kubernetes-') &&
      key !== 'x-kubernetes-list-type' &&
      !(key in X_KUBERNETES_ANNOTATIONS)
    ) {
      // An x-kubernetes-* keyword this validator does not know: ignored.
    } else if (key === 'format' && typeof value === 'string') {
      ensureFormat(value);
      out.format = value;
    } else {
      out[key] = value;
    }
  }

  if (node['x-kubernetes-int-or-string'] === true) {
    out.type = ['integer', 'string'];
    if (Array.isArray(out.anyOf) && isIntOrStringPair(out.anyOf)) delete out.anyOf;
  }

  if (node['x-kubernetes-embedded-resource'] === true) {
    const properties = isObject(out.properties) ? { ...out.properties } : {};
    properties.apiVersion ??= { type: 'string' };
    properties.kind ??= { type: 'string' };
    properties.metadata ??= { type: 'object' };
    out.properties = properties;
  }

  const isObjectSchema = out.type === 'object' || (out.type === undefined && out.properties !== undefined);
  if (
    isObjectSchema &&
    !inBranch &&
    node['x-kubernetes-preserve-unknown-fields'] !== true &&
    out.additionalProperties === undefined
  ) {
    out.additionalProperties = false;
  }
  return out;
}

function isIntOrStringPair(anyOf: unknown[]): boolean {
  if (anyOf.length !== 2) return false;
  const types = anyOf.map((s) => (isObject(s) && Object.keys(s).length === 1 ? s.type : undefined)).sort();
  return types[0] === 'integer' && types[1] === 'string';
}

// ---------------------------------------------------------------------------------------------------------
// ajv instance: formats, Go regexps, x-kubernetes-* keywords
// ---------------------------------------------------------------------------------------------------------

const INT32 = 2 ** 31;
const INT64 = 2 ** 63;
const RFC3339 =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt ]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$/;

/**
 * The x-kubernetes-* keywords ajv is told about (with the shape of their value); their effect, if any, comes
 * from toAjvSchema or listTypeKeyword. Any other x-kubernetes-* keyword is dropped by toAjvSchema.
 */
const X_KUBERNETES_ANNOTATIONS: Record<string, object> = {
  'x-kubernetes-int-or-string': { type: 'boolean' }, // toAjvSchema
  'x-kubernetes-preserve-unknown-fields': { type: 'boolean' }, // toAjvSchema
  'x-kubernetes-embedded-resource': { type: 'boolean' }, // toAjvSchema
  'x-kubernetes-list-map-keys': { type: 'array', items: { type: 'string' } }, // read by list-type
  'x-kubernetes-map-type': { enum: ['granular', 'atomic'] }, // no validation effect
  'x-kubernetes-validations': { type: 'array' }, // CEL rules: NOT checked
};

let instance: Ajv | undefined;

function ajv(): Ajv {
  if (instance) return instance;
  const created = new Ajv({
    allErrors: true,
    // Strict mode on: a keyword ajv does not know fails compilation (every keyword a structural schema may
    // carry is registered below). Union types are allowed for int-or-string (`type: ['integer', 'string']`).
    // Off, because structural schemas do this legitimately: strictTypes (anyOf/allOf/oneOf/not branches may
    // not declare `type`, so `anyOf: [{properties: {a: {pattern: ...}}}]` is "missing type" to ajv) and
    // strictRequired (`oneOf: [{required: [a]}, {required: [b]}]` names properties declared outside).
    strict: true,
    allowUnionTypes: true,
    strictTypes: false,
    strictRequired: false,
    code: { regExp: goRegExp },
    formats: {
      // Range only: `type: integer` next to them already rejects fractions (one error, not two).
      int32: { type: 'number', validate: (n: number) => n >= -INT32 && n < INT32 },
      int64: { type: 'number', validate: (n: number) => n >= -INT64 && n < INT64 },
      'date-time': RFC3339,
      date: /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/,
      byte: /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/,
      uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
      ipv4: /^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/,
    },
  });
  // OpenAPI annotations a structural schema may carry.
  created.addKeyword({ keyword: 'example' });
  created.addKeyword({ keyword: 'externalDocs' });
  for (const [keyword, metaSchema] of Object.entries(X_KUBERNETES_ANNOTATIONS)) {
    created.addKeyword({ keyword, metaSchema });
  }
  created.addKeyword(listTypeKeyword);
  instance = created;
  return created;
}

/** Formats not known to the ajv instance are registered as "accept anything" (the API server ignores them). */
function ensureFormat(name: string): void {
  const instanceAjv = ajv();
  if (!instanceAjv.formats[name]) instanceAjv.addFormat(name, true);
}

/**
 * ajv `code.regExp` engine for Go (RE2) patterns: removes inline flag groups `(?i)`, `(?m)`, `(?s)` (and
 * turns scoped `(?i:` into a plain `(?:`), compiling with the matching JavaScript flags instead.
 */
export const goRegExp = Object.assign(
  (pattern: string, u: string): RegExp => {
    const { source, flags } = translateGoPattern(pattern);
    return new RegExp(source, u + flags);
  },
  { code: 'goRegExp' },
);

/** Splits Go inline flags out of a pattern: `^(?i)(abort|warn)?$` → `{ source: '^(abort|warn)?$', flags: 'i' }`. */
export function translateGoPattern(pattern: string): { source: string; flags: string } {
  const flags = new Set<string>();
  // An unescaped `(?flags)` or `(?flags:`; a preceding odd run of backslashes means a literal `(`.
  const source = pattern.replace(
    /(\\*)\(\?([imsU]+)(\)|:)/g,
    (match, slashes: string, f: string, end: string) => {
      if (slashes.length % 2 === 1) return match;
      for (const flag of f) {
        if (flag === 'U')
          throw new Error(`Go regexp flag U (ungreedy) has no JavaScript equivalent: ${pattern}`);
        flags.add(flag);
      }
      return end === ')' ? slashes : `${slashes}(?:`;
    },
  );
  return { source, flags: [...flags].sort().join('') };
}

/** `x-kubernetes-list-type`: `set` items are unique, `map` items are unique by their list-map-keys. */
const listTypeKeyword: KeywordDefinition = {
  keyword: 'x-kubernetes-list-type',
  type: 'array',
  schemaType: 'string',
  metaSchema: { enum: ['atomic', 'set', 'map'] },
  compile(listType: string, parentSchema: JsonObject) {
    type ListValidator = ((data: unknown[]) => boolean) & { errors?: Partial<ErrorObject>[] };
    let identity: ((item: unknown) => string) | undefined;
    if (listType === 'set') {
      identity = canonicalJson;
    } else if (listType === 'map') {
      const keys = Array.isArray(parentSchema['x-kubernetes-list-map-keys'])
        ? (parentSchema['x-kubernetes-list-map-keys'] as string[])
        : [];
      const itemProps =
        isObject(parentSchema.items) && isObject(parentSchema.items.properties)
          ? parentSchema.items.properties
          : {};
      identity = (item) =>
        JSON.stringify(
          keys.map((k) => {
            const value = isObject(item) ? item[k] : undefined;
            const prop = itemProps[k];
            return value ?? (isObject(prop) ? prop.default : undefined) ?? null;
          }),
        );
    }
    const validate: ListValidator = (data) => {
      validate.errors = undefined;
      if (!identity) return true;
      const seen = new Map<string, number>();
      const errors: Partial<ErrorObject>[] = [];
      data.forEach((item, i) => {
        const id = identity(item);
        const first = seen.get(id);
        if (first === undefined) seen.set(id, i);
        else {
          errors.push({
            keyword: 'x-kubernetes-list-type',
            params: { listType, duplicate: i, first },
            message:
              listType === 'set'
                ? `duplicate entries at ${first} and ${i} in a list-type=set list`
                : `entries ${first} and ${i} have the same key ${id} (list-map-keys ${JSON.stringify(parentSchema['x-kubernetes-list-map-keys'])})`,
          });
        }
      });
      validate.errors = errors.length > 0 ? errors : undefined;
      return errors.length === 0;
    };
    return validate;
  },
};

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'undefined';
}
