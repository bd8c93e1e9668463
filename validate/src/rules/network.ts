/** AF3xx: NetworkPolicies around agent pods. */
import { Http } from '@agent-fleet/contract';
import { isObject, type Json } from '../manifest';
import { namespaceOf, type Rule, type RuleHit } from '../rule';
import { selectorMatches } from '../workloads';

const NETWORK_POLICIES = 'https://kubernetes.io/docs/concepts/services-networking/network-policies/';

const policyTypes = (obj: Json): string[] =>
  Array.isArray(obj.spec?.policyTypes)
    ? obj.spec.policyTypes
    : ['Ingress', ...(obj.spec?.egress !== undefined ? ['Egress'] : [])];

const listOf = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);

export const namespaceByName: Rule = {
  id: 'AF301',
  severity: 'error',
  title: 'A NetworkPolicy selects namespaces by a `name` label they do not carry',
  fix: 'select by the immutable label kubernetes.io/metadata.name',
  source: `${NETWORK_POLICIES}; https://kubernetes.io/docs/concepts/services-networking/network-policies/#targeting-a-namespace-by-its-name`,
  check(obj) {
    if (obj.kind !== 'NetworkPolicy') return [];
    const hits: RuleHit[] = [];
    for (const [dir, peersKey] of [
      ['ingress', 'from'],
      ['egress', 'to'],
    ] as const) {
      listOf(obj.spec?.[dir]).forEach((rule, i) => {
        listOf(rule[peersKey]).forEach((peer, j) => {
          const selector = peer.namespaceSelector;
          if (!isObject(selector)) return;
          const byName =
            (isObject(selector.matchLabels) && Object.hasOwn(selector.matchLabels, 'name')) ||
            listOf(selector.matchExpressions).some((e) => e.key === 'name');
          if (byName) {
            hits.push({
              field: `spec.${dir}[${i}].${peersKey}[${j}].namespaceSelector`,
              message:
                'matches the label `name`, which namespaces do not carry unless someone adds it: the peer matches nothing',
            });
          }
        });
      });
    }
    return hits;
  },
};

/** Whether a NetworkPolicy port entry (or its absence: all ports) allows `port`/`protocol`. */
function allows(ports: Json[] | undefined, port: number | string, protocol: string): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if ((p.protocol ?? 'TCP') !== protocol) return false;
    if (p.port === undefined) return true;
    if (p.port === port) return true;
    return (
      typeof p.port === 'number' &&
      typeof port === 'number' &&
      typeof p.endPort === 'number' &&
      p.port <= port &&
      port <= p.endPort
    );
  });
}

export const dnsOverTcp: Rule = {
  id: 'AF302',
  severity: 'error',
  title: 'A NetworkPolicy allows DNS over UDP but not over TCP',
  fix: 'allow port 53 over TCP too, best to k8s-app: kube-dns pods in kube-system',
  source: `${NETWORK_POLICIES}; https://www.rfc-editor.org/rfc/rfc7766`,
  check(obj) {
    if (obj.kind !== 'NetworkPolicy' || !policyTypes(obj).includes('Egress')) return [];
    const rules = listOf(obj.spec?.egress);
    const ports = (r: Json) => (Array.isArray(r.ports) ? r.ports.filter(isObject) : undefined);
    const peers = (r: Json) => JSON.stringify(listOf(r.to));
    // TCP must reach the same servers: a rule with the same peers, or one open to every destination.
    const hits: RuleHit[] = [];
    rules.forEach((r, i) => {
      if (ports(r) === undefined || !allows(ports(r), 53, 'UDP')) return;
      const tcp = rules.some(
        (t) => allows(ports(t), 53, 'TCP') && (listOf(t.to).length === 0 || peers(t) === peers(r)),
      );
      if (!tcp) {
        hits.push({
          field: `spec.egress[${i}].ports`,
          message: 'allows port 53 over UDP only: answers too large for UDP are retried over TCP and fail',
        });
      }
    });
    return hits;
  },
};

/** The metrics ports of a pod template: the container port named like the contract's, or the scrape annotation's. */
function metricsPorts(template: { spec: Json; annotations: Record<string, string> }): Array<number | string> {
  const ports: Array<number | string> = [];
  for (const c of listOf(template.spec.containers)) {
    for (const p of listOf(c.ports)) {
      if (p.name === Http.portName) ports.push(p.containerPort, p.name);
    }
  }
  const annotated = Number(template.annotations['prometheus.io/port']);
  if (template.annotations['prometheus.io/scrape'] === 'true' && Number.isInteger(annotated))
    ports.push(annotated);
  return ports;
}

export const scrapeAllowed: Rule = {
  id: 'AF303',
  severity: 'error',
  title: 'A NetworkPolicy’s Ingress isolation blocks the metrics scrape of the pods it selects',
  fix: 'add an ingress rule allowing the metrics port from the monitoring namespace',
  source: NETWORK_POLICIES,
  check(obj, context) {
    if (obj.kind !== 'NetworkPolicy' || !policyTypes(obj).includes('Ingress')) return [];
    const rules = listOf(obj.spec?.ingress);
    const hits: RuleHit[] = [];
    const seen = new Set<string>();
    for (const { obj: owner, template } of context.podTemplatesIn(namespaceOf(obj))) {
      if (!selectorMatches(obj.spec?.podSelector ?? {}, template.labels)) continue;
      const ports = metricsPorts(template);
      if (ports.length === 0) continue;
      const open = rules.some((r) =>
        ports.some((p) => allows(Array.isArray(r.ports) ? r.ports.filter(isObject) : undefined, p, 'TCP')),
      );
      const who = `${owner.kind} ${owner.metadata?.name}`;
      if (!open && !seen.has(who)) {
        seen.add(who);
        hits.push({
          field: rules.length === 0 ? 'spec.policyTypes' : 'spec.ingress',
          message: `isolates ${who}'s pods for Ingress without allowing their metrics port (${ports[0]}): Prometheus cannot scrape them`,
        });
      }
    }
    return hits;
  },
};

export const NETWORK_RULES: readonly Rule[] = [namespaceByName, dnsOverTcp, scrapeAllowed];
