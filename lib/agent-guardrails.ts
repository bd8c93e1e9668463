import { isIPv4, isIPv6 } from 'node:net';
import { Defaults } from '@agent-fleet/contract';
import { type ApiObject, Chart, Names } from 'cdk8s';
import { k8s } from 'cdk8s-plus-30';
import { Construct } from 'constructs';
import type { ResourceAmounts } from './agent-pod-props';
import { refuseCredentialsInOutput } from './internal/credential-scan';
import { withDirectJson } from './internal/direct-json';
import {
  formatUnits,
  podAmount,
  RESOURCE_NAMES,
  type ResourceField,
  renderAmounts,
  type Units,
  unitsOf,
} from './internal/pod-features';
import { invalid, requireDnsLabel, requireLabelValue, requireQuantity } from './internal/validation';
import type { Quantity } from './quantity';
import { ContainerRole, type IAgentWorkload, type PodContainerResources } from './workload';

/** The immutable label every namespace carries (a `name` label exists only if someone adds it). */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Metadata type under which {@link AgentGuardrails} records synth-time warnings (`node.metadata`). */
export const WARNING_METADATA = 'agent-fleet:warning';
/** Metadata type of a notice the user acknowledged: kept in the construct tree, not printed. */
export const ACKNOWLEDGED_WARNING_METADATA = 'agent-fleet:acknowledged-warning';

let warnedOnStderr = false;

const KubePodDisruptionBudget = withDirectJson(k8s.KubePodDisruptionBudget, [
  'spec.maxUnavailable',
  'spec.minAvailable',
]);
const KubeLimitRange = withDirectJson(
  k8s.KubeLimitRange,
  ['default', 'defaultRequest', 'max', 'maxLimitRequestRatio', 'min'].map((f) => `spec.limits[].${f}.*`),
);
const KubeResourceQuota = withDirectJson(k8s.KubeResourceQuota, ['spec.hard.*']);
const KubeNetworkPolicy = withDirectJson(k8s.KubeNetworkPolicy, [
  'spec.egress[].ports[].port',
  'spec.ingress[].ports[].port',
]);

const DEFAULT_MAX_DISRUPTED_PERCENT = 10;
const DNS_PORT = 53;

/** What the eviction API does with pods that are running but not Ready. */
export enum UnhealthyPodEvictionPolicy {
  /**
   * Unready pods can always be evicted. A crash-looping or hung agent then never blocks a node
   * drain, and evicting it costs nothing: it was not doing work.
   */
  ALWAYS_ALLOW = 'AlwaysAllow',
  /** Unready pods can be evicted only while the budget is met (Kubernetes' default). */
  IF_HEALTHY_BUDGET = 'IfHealthyBudget',
}

/** Network protocol of an allowed port. */
export enum Protocol {
  TCP = 'TCP',
  UDP = 'UDP',
}

/** A destination port the agents may reach. */
export interface PeerPort {
  /** Port number, 1–65535. */
  readonly port: number;
  /**
   * Protocol.
   * @default Protocol.TCP
   */
  readonly protocol?: Protocol;
}

/** Options of {@link EgressPeer.namespace}. */
export interface NamespacePeerOptions {
  /**
   * Only pods with these labels in that namespace.
   * @default - every pod of the namespace
   */
  readonly podSelector?: Record<string, string>;
  /** Ports allowed; at least one (an allow-all-ports rule is almost never what an agent needs). */
  readonly ports: PeerPort[];
}

/** Options of {@link EgressPeer.ipBlock}. */
export interface IpBlockPeerOptions {
  /**
   * CIDRs inside the block that stay denied.
   * @default - none
   */
  readonly except?: string[];
  /** Ports allowed; at least one. */
  readonly ports: PeerPort[];
}

/**
 * A destination the agents' pods may reach through the default-deny NetworkPolicy.
 * Validated at synth time by {@link AgentGuardrails}, so errors name the prop.
 */
export class EgressPeer {
  /**
   * Pods in another namespace (a broker, a vector store), selected by the namespace's immutable
   * `kubernetes.io/metadata.name` label, never by a `name` label that namespaces do not carry.
   */
  static namespace(name: string, options: NamespacePeerOptions): EgressPeer {
    return new EgressPeer({ namespace: name, podSelector: options.podSelector }, options.ports);
  }

  /** Addresses outside the cluster, e.g. an LLM API's published ranges. */
  static ipBlock(cidr: string, options: IpBlockPeerOptions): EgressPeer {
    return new EgressPeer({ cidr, except: options.except }, options.ports);
  }

  private constructor(
    readonly target:
      | { readonly namespace: string; readonly podSelector?: Record<string, string> }
      | { readonly cidr: string; readonly except?: string[] },
    readonly ports: PeerPort[],
  ) {}
}

/** Where DNS runs; agents always get UDP and TCP 53 to it. */
export interface DnsOptions {
  /**
   * Namespace of the DNS pods.
   * @default "kube-system"
   */
  readonly namespace?: string;
  /**
   * Labels of the DNS pods.
   * @default { "k8s-app": "kube-dns" } (CoreDNS keeps this label on kubeadm, EKS, GKE and AKS)
   */
  readonly podSelector?: Record<string, string>;
}

/**
 * Namespace-wide container defaults and ceilings (a LimitRange). It shapes each pod as it is
 * admitted; it does **not** limit restarts or retries: the Job's `backoffLimitPerIndex` /
 * `backoffLimit` and podFailurePolicy do.
 */
export interface LimitRangeOptions {
  /**
   * Limits given to a container that sets none.
   * @default - none
   */
  readonly containerDefault?: ResourceAmounts;
  /**
   * Requests given to a container that sets none.
   * @default - none (Kubernetes then uses the default limit)
   */
  readonly containerDefaultRequest?: ResourceAmounts;
  /**
   * Largest limit a container may set; a pod above it is rejected at admission. It applies to
   * every container, sidecars and init containers included, and is checked against the agents'
   * containers at synth time.
   * @default - none
   */
  readonly containerMax?: ResourceAmounts;
  /**
   * Largest effective limit of a pod: the agent plus its sidecars, or an init container plus the
   * sidecars started before it, whichever is larger (Kubernetes' rule for native sidecars).
   * @default - none
   */
  readonly podMax?: ResourceAmounts;
}

/** Explicit ceilings of {@link NamespaceQuota.of}. */
export interface QuotaAmounts {
  /**
   * Ceiling on the sum of requests.
   * @default - none
   */
  readonly requests?: ResourceAmounts;
  /**
   * Ceiling on the sum of limits.
   * @default - none
   */
  readonly limits?: ResourceAmounts;
  /**
   * Most non-terminal pods.
   * @default - none
   */
  readonly pods?: number;
}

/**
 * The namespace's hard ceiling (a ResourceQuota). Like the LimitRange it does **not** limit
 * restarts: a crash-looping agent stays inside the quota; the Job's retry settings stop it.
 */
export class NamespaceQuota {
  /** Ceilings written by hand. */
  static of(amounts: QuotaAmounts): NamespaceQuota {
    return new NamespaceQuota(amounts);
  }

  /**
   * Derived from the agents: for requests and limits of CPU and memory, the sum over agents of
   * `maxConcurrentPods` (parallelism or maxReplicaCount) × the pod's effective amount, as
   * Kubernetes counts a pod against a quota: the larger of the agent plus its sidecars and, for
   * each init container, that container plus the sidecars started before it (see
   * `IAgentWorkload.podResources`). An amount a container does not set comes from the LimitRange
   * defaults as admission would fill it in (a missing request is first the container's own limit).
   * A resource is capped only when every container of every agent has an amount for it (a quota on
   * a resource rejects pods with a container that leaves it unset). Covers the agents only: other
   * pods of the namespace need an explicit quota.
   */
  static fromAgents(): NamespaceQuota {
    return new NamespaceQuota(undefined);
  }

  private constructor(readonly amounts: QuotaAmounts | undefined) {}
}

export interface AgentGuardrailsProps {
  /** The agent workloads (AgentJob, AgentScaledJob) whose pods these guardrails protect. */
  readonly agents: IAgentWorkload[];
  /**
   * Share of a fixed fleet's running agents that voluntary disruptions (drains) may evict at once,
   * in (0, 100]. The PodDisruptionBudget gets the integer
   * `minAvailable = P − max(1, floor(P × percent / 100))` for parallelism P: at most `percent`
   * rounded down, but always at least one, because a budget that allows no eviction hangs every
   * drain until the Job ends.
   * @default 10
   */
  readonly maxDisruptedPercent?: number;
  /**
   * What evictions do with running but unready agent pods.
   * @default UnhealthyPodEvictionPolicy.ALWAYS_ALLOW (a crash-looping agent must not block drains)
   */
  readonly unhealthyPodEvictionPolicy?: UnhealthyPodEvictionPolicy;
  /**
   * Container defaults and ceilings for the namespace.
   * @default - no LimitRange
   */
  readonly limitRange?: LimitRangeOptions;
  /**
   * Hard ceiling for the namespace.
   * @default - no ResourceQuota
   */
  readonly resourceQuota?: NamespaceQuota;
  /**
   * Destinations the agents may reach besides DNS. Everything else is denied.
   * @default - DNS only
   */
  readonly egress?: EgressPeer[];
  /**
   * Where DNS runs.
   * @default - `k8s-app: kube-dns` pods in `kube-system`
   */
  readonly dns?: DnsOptions;
  /**
   * Namespace allowed to reach the agents' metrics port (Prometheus). No other ingress is allowed.
   * @default "monitoring"
   */
  readonly monitoringNamespace?: string;
  /**
   * Only these pods of the monitoring namespace may scrape.
   * @default - every pod of the monitoring namespace
   */
  readonly monitoringPodSelector?: Record<string, string>;
  /**
   * Queue-driven workloads (AgentScaledJob) whose missing PodDisruptionBudget you accept, so the
   * synth-time notice about it is no longer printed. The notice stays in the construct tree as
   * `node.metadata` of type `agent-fleet:acknowledged-warning`, for tools and reviews that read it.
   * Each entry must be one of `agents` and queue-driven.
   * @default - none: the notice is printed (once per process) and recorded as `agent-fleet:warning`
   */
  readonly acknowledgeNoDisruptionBudget?: IAgentWorkload[];
}

/**
 * Guardrails around agent workloads, in the workloads' namespace:
 *
 * - **PodDisruptionBudget** per fixed (AgentJob) workload, with an integer `minAvailable` only:
 *   Jobs have no scale subresource, and over such pods `maxUnavailable` or a percentage leaves the
 *   disruption controller unable to compute a budget, so no eviction is ever allowed.
 *   Queue-driven workloads (AgentScaledJob) get **no** PDB and a synth-time warning: their pod
 *   count moves between 0 and maxReplicaCount, and a minAvailable computed from maxReplicaCount
 *   would block every eviction whenever fewer pods run (i.e. almost always). Evicting them is
 *   safe anyway: the worker checkpoints on SIGTERM and exits non-zero, and the podFailurePolicy
 *   ignores `DisruptionTarget` failures, so the task is retried without spending the retry budget.
 *   Note for fixed Jobs: when fewer than `minAvailable` pods still run (the batch's tail), healthy
 *   pods cannot be evicted until they finish; unready ones can (`unhealthyPodEvictionPolicy`).
 * - optional **LimitRange** and **ResourceQuota**. Neither limits restarts; the Job's retry
 *   settings (`backoffLimitPerIndex`, `backoffLimit`, podFailurePolicy) do.
 * - **NetworkPolicy** per workload: default deny in both directions; egress to DNS (UDP and TCP
 *   53) and the given peers; ingress only to the contract's metrics port from the monitoring
 *   namespace, so Prometheus can still scrape.
 */
export class AgentGuardrails extends Construct {
  /** One PodDisruptionBudget per fixed workload. */
  readonly disruptionBudgets: ApiObject[] = [];
  /** One NetworkPolicy per workload. */
  readonly networkPolicies: ApiObject[] = [];
  readonly limitRange?: ApiObject;
  readonly resourceQuota?: ApiObject;
  /** Synth-time warnings, also recorded as `node.metadata` entries of type {@link WARNING_METADATA}. */
  readonly warnings: string[] = [];
  /** Notices the user acknowledged: recorded as {@link ACKNOWLEDGED_WARNING_METADATA}, never printed. */
  readonly acknowledgedWarnings: string[] = [];

  constructor(scope: Construct, id: string, props: AgentGuardrailsProps) {
    super(scope, id);
    refuseCredentialsInOutput(this);
    const agents = validateAgents(this, props.agents);
    const percent = props.maxDisruptedPercent ?? DEFAULT_MAX_DISRUPTED_PERCENT;
    if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0 || percent > 100) {
      invalid(
        this,
        'maxDisruptedPercent',
        percent,
        'is not a percentage in (0, 100]',
        'use e.g. 10 to let drains evict at most 10% of running agents at once',
      );
    }
    const unhealthyPodEvictionPolicy =
      props.unhealthyPodEvictionPolicy ?? UnhealthyPodEvictionPolicy.ALWAYS_ALLOW;
    const acknowledged = validateAcknowledged(this, props.acknowledgeNoDisruptionBudget ?? [], agents);

    for (const agent of agents) {
      if (agent.scaling === 'fixed') {
        this.disruptionBudgets.push(
          new KubePodDisruptionBudget(this, `DisruptionBudget-${agent.name}`, {
            metadata: { name: agent.name },
            spec: {
              minAvailable: k8s.IntOrString.fromNumber(minAvailableFor(agent.maxConcurrentPods, percent)),
              selector: { matchLabels: { ...agent.selectorLabels } },
              unhealthyPodEvictionPolicy,
            },
          }),
        );
      } else {
        this.notice(
          acknowledged.has(agent),
          `no PodDisruptionBudget for queue-driven workload "${agent.name}": its pod count moves between 0 and ` +
            `maxReplicaCount (${agent.maxConcurrentPods}), so an integer minAvailable would block every eviction ` +
            'whenever fewer pods run. Evictions are safe without one: the worker checkpoints on SIGTERM and exits ' +
            'non-zero, and the podFailurePolicy ignores DisruptionTarget failures. To stop printing this notice, ' +
            'list the workload in acknowledgeNoDisruptionBudget',
        );
      }
    }

    const limits = props.limitRange && validateLimitRange(this, props.limitRange, agents);
    if (limits) {
      this.limitRange = new KubeLimitRange(this, 'LimitRange', {
        metadata: { name: Names.toDnsLabel(this) },
        spec: { limits },
      });
    }
    if (props.resourceQuota) {
      const hard = props.resourceQuota.amounts
        ? explicitQuota(this, props.resourceQuota.amounts)
        : derivedQuota(this, agents, props.limitRange);
      this.resourceQuota = new KubeResourceQuota(this, 'ResourceQuota', {
        metadata: { name: Names.toDnsLabel(this) },
        spec: { hard },
      });
    }

    const egress = [
      dnsRule(this, props.dns ?? {}),
      ...(props.egress ?? []).map((peer, i) => egressRule(this, `egress[${i}]`, peer)),
    ];
    const monitoringNamespace = requireDnsLabel(
      this,
      'monitoringNamespace',
      props.monitoringNamespace ?? 'monitoring',
    );
    const monitoringPods =
      props.monitoringPodSelector &&
      requireLabels(this, 'monitoringPodSelector', props.monitoringPodSelector);
    const ingress: k8s.NetworkPolicyIngressRule[] = [
      {
        from: [
          {
            namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: monitoringNamespace } },
            ...(monitoringPods && { podSelector: { matchLabels: monitoringPods } }),
          },
        ],
        ports: [{ port: k8s.IntOrString.fromNumber(Defaults.metricsPort), protocol: Protocol.TCP }],
      },
    ];
    for (const agent of agents) {
      this.networkPolicies.push(
        new KubeNetworkPolicy(this, `NetworkPolicy-${agent.name}`, {
          metadata: { name: agent.name },
          spec: {
            podSelector: { matchLabels: { ...agent.selectorLabels } },
            policyTypes: ['Ingress', 'Egress'],
            ingress,
            egress,
          },
        }),
      );
    }
  }

  private notice(acknowledged: boolean, message: string): void {
    if (acknowledged) {
      this.acknowledgedWarnings.push(message);
      this.node.addMetadata(ACKNOWLEDGED_WARNING_METADATA, message);
      return;
    }
    this.warnings.push(message);
    this.node.addMetadata(WARNING_METADATA, message);
    // Also on stderr, so `cdk8s synth` shows it; once per process, since an app with hundreds of
    // fleets would otherwise print the same advice hundreds of times.
    if (!warnedOnStderr) {
      warnedOnStderr = true;
      process.emitWarning(`${this.node.path}: ${message}`, { type: 'AgentFleetWarning' });
    }
  }
}

function validateAcknowledged(
  scope: Construct,
  acknowledged: readonly IAgentWorkload[],
  agents: readonly IAgentWorkload[],
): Set<IAgentWorkload> {
  for (const [i, workload] of acknowledged.entries()) {
    if (!agents.includes(workload)) {
      invalid(
        scope,
        `acknowledgeNoDisruptionBudget[${i}]`,
        workload?.name,
        'is not one of `agents`',
        'list only workloads these guardrails protect, or add it to `agents`',
      );
    }
    if (workload.scaling !== 'queue-driven') {
      invalid(
        scope,
        `acknowledgeNoDisruptionBudget[${i}]`,
        workload.name,
        'has a fixed pod count and gets a PodDisruptionBudget, so there is nothing to acknowledge',
        'remove it from acknowledgeNoDisruptionBudget',
      );
    }
  }
  return new Set(acknowledged);
}

/**
 * The PDB's integer minAvailable for `pods` running agents when at most `percent` of them may be
 * disrupted at once: `pods − max(1, floor(pods × percent / 100))`, never below 0. At least one
 * eviction is always allowed while all agents run, so drains make progress.
 */
export function minAvailableFor(pods: number, percent: number): number {
  const disruptable = Math.max(1, Math.floor((pods * percent) / 100));
  return Math.max(0, pods - disruptable);
}

function validateAgents(scope: Construct, agents: IAgentWorkload[]): IAgentWorkload[] {
  if (!Array.isArray(agents) || agents.length === 0) {
    invalid(
      scope,
      'agents',
      agents,
      'names no agent workload',
      'pass the AgentJob / AgentScaledJob constructs to protect, e.g. agents: [job, scaledJob]',
    );
  }
  const namespace = Chart.of(scope).namespace;
  const seen = new Set<string>();
  agents.forEach((agent, i) => {
    const a = agent as Partial<IAgentWorkload> | undefined;
    const labels = a?.selectorLabels;
    if (
      typeof a?.name !== 'string' ||
      typeof labels !== 'object' ||
      labels === null ||
      Object.keys(labels).length === 0 ||
      !Number.isInteger(a.maxConcurrentPods) ||
      (a.maxConcurrentPods ?? 0) < 1 ||
      (a.scaling !== 'fixed' && a.scaling !== 'queue-driven') ||
      typeof a.resources !== 'object' ||
      !Array.isArray(a.podResources?.containers)
    ) {
      invalid(
        scope,
        `agents[${i}]`,
        a && typeof a === 'object' ? (a.name ?? '(unnamed object)') : a,
        'is not an agent workload (name, selectorLabels, maxConcurrentPods, scaling, resources, podResources)',
        'pass an AgentJob or AgentScaledJob construct',
      );
    }
    if (seen.has(agent.name)) {
      invalid(scope, `agents[${i}]`, agent.name, 'is listed twice', 'list each workload once');
    }
    seen.add(agent.name);
    if (Construct.isConstruct(agent)) {
      const theirs = Chart.of(agent).namespace;
      if (theirs !== namespace) {
        invalid(
          scope,
          `agents[${i}]`,
          agent.name,
          `is in namespace ${theirs ?? '(none)'}, but these guardrails are in ${namespace ?? '(none)'}; namespaced policies cannot reach it`,
          'create the AgentGuardrails in the chart (namespace) of its agents',
        );
      }
    }
  });
  return agents;
}

function requireLabels(
  scope: Construct,
  prop: string,
  labels: Record<string, string>,
): Record<string, string> {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) {
    invalid(scope, prop, labels, 'is empty', 'give at least one label, or omit the selector');
  }
  for (const [key, value] of entries) {
    if (!/^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/.test(key)) {
      invalid(
        scope,
        `${prop} key`,
        key,
        'is not a valid label key',
        'use an optional DNS prefix and "/", then at most 63 letters, digits, "-", "_" or "."',
      );
    }
    requireLabelValue(scope, `${prop}.${key}`, value);
  }
  return { ...labels };
}

function portsOf(scope: Construct, prop: string, ports: PeerPort[] | undefined): k8s.NetworkPolicyPort[] {
  if (!Array.isArray(ports) || ports.length === 0) {
    invalid(
      scope,
      `${prop}.ports`,
      ports,
      'lists no port, which would allow every port',
      'list the ports the agents need, e.g. ports: [{ port: 443 }]',
    );
  }
  return ports.map((p, j) => {
    if (!Number.isInteger(p?.port) || p.port < 1 || p.port > 65535) {
      invalid(scope, `${prop}.ports[${j}].port`, p?.port, 'is not a port number', 'use an integer 1–65535');
    }
    const protocol = p.protocol ?? Protocol.TCP;
    if (protocol !== Protocol.TCP && protocol !== Protocol.UDP) {
      invalid(
        scope,
        `${prop}.ports[${j}].protocol`,
        protocol,
        'is not a protocol',
        'use Protocol.TCP or Protocol.UDP',
      );
    }
    return { port: k8s.IntOrString.fromNumber(p.port), protocol };
  });
}

function dnsRule(scope: Construct, dns: DnsOptions): k8s.NetworkPolicyEgressRule {
  const namespace = requireDnsLabel(scope, 'dns.namespace', dns.namespace ?? 'kube-system');
  const pods = requireLabels(scope, 'dns.podSelector', dns.podSelector ?? { 'k8s-app': 'kube-dns' });
  return {
    to: [
      {
        namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
        podSelector: { matchLabels: pods },
      },
    ],
    // TCP as well: resolvers retry over TCP when an answer is truncated.
    ports: [
      { port: k8s.IntOrString.fromNumber(DNS_PORT), protocol: Protocol.UDP },
      { port: k8s.IntOrString.fromNumber(DNS_PORT), protocol: Protocol.TCP },
    ],
  };
}

function egressRule(scope: Construct, prop: string, peer: EgressPeer): k8s.NetworkPolicyEgressRule {
  if (!(peer instanceof EgressPeer)) {
    invalid(
      scope,
      prop,
      peer,
      'is not an EgressPeer',
      'use EgressPeer.namespace(...) or EgressPeer.ipBlock(...)',
    );
  }
  const target = peer.target;
  const ports = portsOf(scope, prop, peer.ports);
  if ('namespace' in target) {
    const namespace = requireDnsLabel(scope, `${prop}.namespace`, target.namespace);
    const pods = target.podSelector && requireLabels(scope, `${prop}.podSelector`, target.podSelector);
    return {
      to: [
        {
          namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: namespace } },
          ...(pods && { podSelector: { matchLabels: pods } }),
        },
      ],
      ports,
    };
  }
  const block = requireCidr(scope, `${prop}.cidr`, target.cidr);
  const except = (target.except ?? []).map((c, j) => {
    const inner = requireCidr(scope, `${prop}.except[${j}]`, c);
    if (inner.v6 !== block.v6 || inner.prefix <= block.prefix || !block.contains(inner.network)) {
      invalid(
        scope,
        `${prop}.except[${j}]`,
        c,
        `is not strictly inside ${target.cidr}`,
        'list only smaller blocks inside the cidr',
      );
    }
    return c;
  });
  return { to: [{ ipBlock: { cidr: target.cidr, ...(except.length > 0 && { except }) } }], ports };
}

interface Cidr {
  readonly v6: boolean;
  readonly prefix: number;
  readonly network: bigint;
  contains(address: bigint): boolean;
}

/** A CIDR with its host bits zero, IPv4 (`203.0.113.0/24`) or IPv6 (`2001:db8::/32`). */
function requireCidr(scope: Construct, prop: string, cidr: string): Cidr {
  const fail = (problem: string, fix: string): never => invalid(scope, prop, cidr, problem, fix);
  const match = typeof cidr === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(cidr) : null;
  if (!match) fail('is not a CIDR', 'write an address and a prefix length, e.g. "203.0.113.0/24"');
  const [, address, prefixText] = match as RegExpExecArray;
  const v6 = isIPv6(address);
  if (!v6 && !isIPv4(address))
    fail('does not start with an IP address', 'e.g. "203.0.113.0/24" or "2001:db8::/32"');
  const bits = v6 ? 128 : 32;
  const prefix = Number(prefixText);
  if (prefix > bits) fail(`has a prefix longer than ${bits}`, `use a prefix length 0–${bits}`);
  const value = v6 ? ipv6ToBigInt(address) : ipv4ToBigInt(address);
  const hostBits = BigInt(bits - prefix);
  const network = (value >> hostBits) << hostBits;
  if (network !== value) {
    fail(
      'has host bits set',
      `use the network address of the block, e.g. "${address.includes(':') ? '…' : bigIntToIpv4(network)}/${prefix}"`,
    );
  }
  return { v6, prefix, network, contains: (a) => a >> hostBits === network >> hostBits };
}

function ipv4ToBigInt(address: string): bigint {
  return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function bigIntToIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 255n)).join('.');
}

function ipv6ToBigInt(address: string): bigint {
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]);
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

type Amounts = Partial<Record<(typeof RESOURCE_NAMES)[number][0], number>>;

function amountsOf(scope: Construct, prop: string, amounts: ResourceAmounts | undefined): Amounts {
  const out: Amounts = {};
  for (const [field] of RESOURCE_NAMES) {
    const q = amounts?.[field];
    if (q !== undefined) out[field] = requireQuantity(scope, `${prop}.${field}`, q);
  }
  return out;
}

function validateLimitRange(
  scope: Construct,
  options: LimitRangeOptions,
  agents: IAgentWorkload[],
): k8s.LimitRangeItem[] {
  const dflt = amountsOf(scope, 'limitRange.containerDefault', options.containerDefault);
  const request = amountsOf(scope, 'limitRange.containerDefaultRequest', options.containerDefaultRequest);
  const max = amountsOf(scope, 'limitRange.containerMax', options.containerMax);
  const podMax = amountsOf(scope, 'limitRange.podMax', options.podMax);
  for (const [field] of RESOURCE_NAMES) {
    const above = (lowProp: string, low: number | undefined, highProp: string, high: number | undefined) => {
      if (low !== undefined && high !== undefined && low > high) {
        const lowQ = (options as Record<string, ResourceAmounts | undefined>)[lowProp]?.[field] as Quantity;
        const highQ = (options as Record<string, ResourceAmounts | undefined>)[highProp]?.[field] as Quantity;
        invalid(
          scope,
          `limitRange.${lowProp}.${field}`,
          lowQ.value,
          `is above limitRange.${highProp}.${field} (${highQ.value}); Kubernetes rejects the LimitRange`,
          `lower it to at most ${highQ.value}, or raise ${highProp}`,
        );
      }
    };
    above('containerDefault', dflt[field], 'containerMax', max[field]);
    above('containerDefaultRequest', request[field], 'containerDefault', dflt[field]);
    above('containerDefaultRequest', request[field], 'containerMax', max[field]);
  }
  // An agent whose pod the LimitRange would reject never starts; say so now, not at admission. The
  // per-container ceiling applies to the sidecars and init containers too, the pod ceiling to the
  // pod's effective limit.
  const fill = { limits: unitsIn(dflt), requests: unitsIn(request) };
  for (const agent of agents) {
    const containers = admittedContainers(scope, agent, fill);
    for (const [field] of RESOURCE_NAMES) {
      const check = (
        prop: 'containerMax' | 'podMax',
        limit: number | undefined,
        who: string,
        what: string,
        fix: string,
      ) => {
        const ceiling = (prop === 'containerMax' ? max : podMax)[field];
        if (ceiling === undefined) return;
        const ceilingText = options[prop]?.[field]?.value;
        if (limit === undefined) {
          invalid(
            scope,
            `limitRange.${prop}.${field}`,
            ceilingText,
            `requires a ${field} limit, but ${who} sets none and the LimitRange gives no default`,
            `set resources.limits.${field} on ${fix}, or limitRange.containerDefault.${field}`,
          );
        }
        if (limit > unitsOf(field, ceiling)) {
          invalid(
            scope,
            `limitRange.${prop}.${field}`,
            ceilingText,
            `is below ${what}, so its pods would be rejected`,
            `raise it, or lower the ${field} limit of ${fix}`,
          );
        }
      };
      for (const c of containers) {
        const text = c.resources.limits?.[field]?.value ?? options.containerDefault?.[field]?.value;
        check(
          'containerMax',
          c.limits[field],
          describeContainer(agent, c),
          c.role === ContainerRole.AGENT
            ? `agent "${agent.name}"'s ${field} limit (${text})`
            : `the ${field} limit of ${describeContainer(agent, c)} (${text})`,
          c.role === ContainerRole.AGENT ? 'that agent' : `that ${roleName(c.role)}`,
        );
      }
      const podLimit = podAmount(containers.map((c) => ({ role: c.role, amount: c.limits[field] })));
      check(
        'podMax',
        podLimit,
        `agent "${agent.name}"`,
        containers.length === 1
          ? `agent "${agent.name}"'s ${field} limit (${formatUnits(field, podLimit ?? 0)})`
          : `the ${field} limit of agent "${agent.name}"'s pod (${formatUnits(field, podLimit ?? 0)}: its ` +
              'sidecars run beside the agent and its init containers before it)',
        "that agent's containers",
      );
    }
  }
  const container: k8s.LimitRangeItem = {
    type: 'Container',
    default: renderAmounts(options.containerDefault),
    defaultRequest: renderAmounts(options.containerDefaultRequest),
    max: renderAmounts(options.containerMax),
  };
  const items: k8s.LimitRangeItem[] = [];
  if (container.default || container.defaultRequest || container.max) items.push(container);
  const pod = renderAmounts(options.podMax);
  if (pod) items.push({ type: 'Pod', max: pod });
  if (items.length === 0) {
    invalid(
      scope,
      'limitRange',
      options,
      'sets nothing',
      'give containerDefault, containerDefaultRequest, containerMax or podMax, or omit limitRange',
    );
  }
  return items;
}

function explicitQuota(scope: Construct, amounts: QuotaAmounts): Record<string, k8s.Quantity> {
  const hard: Record<string, k8s.Quantity> = {};
  for (const kind of ['requests', 'limits'] as const) {
    amountsOf(scope, `resourceQuota.${kind}`, amounts[kind]);
    for (const [key, q] of Object.entries(renderAmounts(amounts[kind]) ?? {})) hard[`${kind}.${key}`] = q;
  }
  if (amounts.pods !== undefined) {
    if (!Number.isInteger(amounts.pods) || amounts.pods < 1) {
      invalid(
        scope,
        'resourceQuota.pods',
        amounts.pods,
        'is not a whole number ≥ 1',
        'use an integer of at least 1',
      );
    }
    hard.pods = k8s.Quantity.fromString(String(amounts.pods));
  }
  if (Object.keys(hard).length === 0) {
    invalid(
      scope,
      'resourceQuota',
      amounts,
      'sets no ceiling',
      'give requests, limits or pods, or NamespaceQuota.fromAgents()',
    );
  }
  return hard;
}

function derivedQuota(
  scope: Construct,
  agents: IAgentWorkload[],
  limitRange: LimitRangeOptions | undefined,
): Record<string, k8s.Quantity> {
  const fill = {
    limits: unitsIn(amountsOf(scope, 'limitRange.containerDefault', limitRange?.containerDefault)),
    requests: unitsIn(
      amountsOf(scope, 'limitRange.containerDefaultRequest', limitRange?.containerDefaultRequest),
    ),
  };
  const totals: Record<string, number | undefined> = {};
  const fields = ['cpu', 'memory'] as const;
  agents.forEach((agent) => {
    const containers = admittedContainers(scope, agent, fill);
    // A quota on a resource rejects every pod with a container that leaves it unset.
    const unset = (kind: 'limits' | 'requests', field: ResourceField) =>
      containers.find((c) => c[kind][field] === undefined);
    const noCpu = unset('limits', 'cpu');
    const noMemory = unset('limits', 'memory');
    if (noCpu && noMemory) {
      invalid(
        scope,
        'resourceQuota',
        'NamespaceQuota.fromAgents()',
        `cannot be derived: ${
          noCpu === noMemory
            ? `${describeContainer(agent, noCpu)} sets no cpu or memory limit`
            : `${describeContainer(agent, noCpu)} sets no cpu limit and ${describeContainer(agent, noMemory)} no memory limit`
        } and the LimitRange gives no default`,
        'set resources.limits on that agent or limitRange.containerDefault, or use NamespaceQuota.of({...})',
      );
    }
    for (const field of fields) {
      for (const kind of ['limits', 'requests'] as const) {
        const key = `${kind}.${field}`;
        if (key in totals && totals[key] === undefined) continue;
        const pod = unset(kind, field)
          ? undefined
          : podAmount(containers.map((c) => ({ role: c.role, amount: c[kind][field] })));
        totals[key] = pod === undefined ? undefined : (totals[key] ?? 0) + agent.maxConcurrentPods * pod;
      }
    }
  });
  const hard: Record<string, k8s.Quantity> = {};
  for (const kind of ['requests', 'limits']) {
    for (const field of fields) {
      const total = totals[`${kind}.${field}`];
      if (total !== undefined) hard[`${kind}.${field}`] = k8s.Quantity.fromString(formatUnits(field, total));
    }
  }
  return hard;
}

/** A container of an agent pod with its amounts in units, as admission leaves them. */
interface AdmittedContainer extends PodContainerResources {
  readonly requests: Units;
  readonly limits: Units;
}

/**
 * The containers of `agent`'s pod with the amounts admission gives them: the API server makes a
 * missing request equal to the container's limit; then the LimitRange fills a missing limit from
 * its default and a missing request from its default request (which defaults to the default).
 */
function admittedContainers(
  scope: Construct,
  agent: IAgentWorkload,
  fill: { readonly limits: Units; readonly requests: Units },
): AdmittedContainer[] {
  return agent.podResources.containers.map((c) => {
    const prop =
      c.role === ContainerRole.AGENT
        ? `agents[${agent.name}].resources`
        : `agents[${agent.name}].podResources[${c.name}].resources`;
    const ownLimits = unitsIn(amountsOf(scope, `${prop}.limits`, c.resources.limits));
    const ownRequests = unitsIn(amountsOf(scope, `${prop}.requests`, c.resources.requests));
    const limits: Units = {};
    const requests: Units = {};
    for (const [field] of RESOURCE_NAMES) {
      limits[field] = ownLimits[field] ?? fill.limits[field];
      requests[field] = ownRequests[field] ?? ownLimits[field] ?? fill.requests[field] ?? fill.limits[field];
    }
    return { ...c, limits, requests };
  });
}

function roleName(role: ContainerRole): string {
  return role === ContainerRole.INIT ? 'init container' : role;
}

/** `agent "batch"`, or `agent "batch"'s sidecar "proxy"` for another container of its pod. */
function describeContainer(agent: IAgentWorkload, c: PodContainerResources): string {
  return c.role === ContainerRole.AGENT
    ? `agent "${agent.name}"`
    : `agent "${agent.name}"'s ${roleName(c.role)} "${c.name}"`;
}

/** Amounts (cores, bytes) in whole units. */
function unitsIn(amounts: Amounts): Units {
  const out: Units = {};
  for (const [field] of RESOURCE_NAMES) {
    const amount = amounts[field];
    if (amount !== undefined) out[field] = unitsOf(field, amount);
  }
  return out;
}
