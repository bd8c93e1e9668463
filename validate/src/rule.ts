/** What a fleet rule is: an id, a severity, one line, the fix, and a check over one object. */
import { isObject, type Json } from './manifest';
import { type PodTemplate, podTemplatesOf } from './workloads';

export type Severity = 'error' | 'warning';

/** One problem a rule found in one object. */
export interface RuleHit {
  /** Dotted path of the offending field from the object root, e.g. `spec.template.spec.restartPolicy`. */
  readonly field: string;
  /** What is wrong with it, without the object's name (the finding adds it). */
  readonly message: string;
  /** A fix for this case; the rule's own fix when absent. */
  readonly fix?: string;
}

export interface Rule {
  /** `AF` and three digits: 0xx the validator itself, 1xx workloads, pods and batch Jobs (Kueue, shard files), 2xx KEDA, 3xx network, 4xx observability. */
  readonly id: string;
  readonly severity: Severity;
  /** One line: what the rule rejects. */
  readonly title: string;
  /** The usual fix. */
  readonly fix: string;
  /** Where the fact behind the rule is documented. */
  readonly source: string;
  check(obj: Json, context: RuleContext): RuleHit[];
}

/** The other objects of the same validation run, for rules that relate objects (a PDB and its pods). */
export class RuleContext {
  private readonly templates: Array<{ obj: Json; namespace: string; template: PodTemplate }>;

  constructor(readonly objects: readonly Json[]) {
    this.templates = objects.flatMap((obj) =>
      podTemplatesOf(obj).map((template) => ({ obj, namespace: namespaceOf(obj), template })),
    );
  }

  /** Pod templates in `namespace`, with the object that holds each. */
  podTemplatesIn(namespace: string): Array<{ obj: Json; template: PodTemplate }> {
    return this.templates.filter((t) => t.namespace === namespace);
  }

  /** Objects of `kind` in `namespace`. */
  objectsIn(namespace: string, kind: string): Json[] {
    return this.objects.filter((o) => isObject(o) && o.kind === kind && namespaceOf(o) === namespace);
  }
}

/** The object's namespace; '' when it names none (the namespace it is applied to). */
export function namespaceOf(obj: Json): string {
  return isObject(obj) && isObject(obj.metadata) && typeof obj.metadata.namespace === 'string'
    ? obj.metadata.namespace
    : '';
}
